// The one strict loader every model family uses (as mlx-lm's load_weights(strict=True)): each
// parameter is filled from a checkpoint tensor of exactly its shape, a parameter the checkpoint lacks
// is an error unless the family calls it optional (a new task head), and a checkpoint tensor no
// parameter reads is an error unless the family ignores it by name (buffers, other tasks' heads).
// Families differ only in the options: where a parameter's tensor is found (renames, timm's fused
// qkv rows), what is optional, what is ignored.
import type { CheckpointReader } from '../io/hf_folder.js';
import { isBlockDtype } from '../io/gguf_weights.js';
import type { Module } from '../nn/module.js';
import { shapeString } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { QuantFormat } from '../formats/quantized.js';
import { GiftjsError } from '../errors.js';

/** Where a parameter's values are stored: a checkpoint tensor, or rows [start, end) of one (a fused qkv). */
export interface TensorSource {
  name: string;
  rows?: [number, number];
}

export interface StateDictOptions {
  /** The model's name in messages ("LlamaForCausalLM"). */
  what: string;
  /** Checkpoint tensors to try for a parameter, in order; default: the parameter's own name. */
  sources?: (parameter: string) => TensorSource[];
  /** Parameters that may be absent or of another shape (a new classification head): left as built. */
  optional?: (parameter: string) => boolean;
  /** Checkpoint tensors that no parameter needs to read (buffers, heads of other tasks). */
  ignore?: (tensor: string) => boolean;
  /**
   * Parameters that keep a BF16 or F16 checkpoint tensor's bits as they are stored (frozen matrices
   * the GEMM widens exactly as it reads them) instead of converting them to float32 at twice the size.
   */
  keepStoredDtype?: (parameter: string, p: Tensor) => boolean;
  /**
   * Parameters that keep a GGUF's quantized blocks rather than widening them to float32 (frozen
   * matrices): Q8_0 and Q4_0 as stored (the quantized GEMM reads them), other block types
   * dequantized and rounded to float16 (bfloat16 past its range): GgufWeights.readFrozenBlocks.
   */
  keepStoredBlocks?: (parameter: string, p: Tensor) => boolean;
  /** A GGUF's Q8_0/Q4_0 blocks kept as stored are copied apart rather than mapped in place (WeightLoadOptions.copyStoredBlocks). */
  copyStoredBlocks?: boolean;
  /** Parameters stored as bfloat16 whatever the checkpoint holds: a float32 tensor (or a float16 one not kept as stored) is rounded (nearest even) as it is read. */
  roundToBf16?: (parameter: string, p: Tensor) => boolean;
  /** Parameters quantized as they are read (--quantize), one at a time; null: as the options above say. */
  quantize?: (parameter: string, p: Tensor) => QuantFormat | null;
}

export interface LoadedStateDict {
  /** Optional parameters left as built (absent from the checkpoint, or of another shape there). */
  missing: string[];
  /** Each loaded parameter's stored dtype ("F32", "BF16", "F16"), for an export that writes it back so. */
  dtypes: Map<string, string>;
}

/** A GGUF block tensor held by p as GgufWeights.readFrozenBlocks says, else as bfloat16; false where the backend holds neither. */
function keepBlocks(reader: CheckpointReader, name: string, p: Tensor, copy: boolean): boolean {
  const held = reader.readFrozenBlocks(name, copy);
  return held ? p.adoptQuantized(held) : p.adoptBf16Bits(reader.readRoundedBf16(name));
}

export function loadStateDict(model: Module, reader: CheckpointReader, o: StateDictOptions): LoadedStateDict {
  const missing: string[] = [];
  const dtypes = new Map<string, string>();
  const used = new Set<string>();
  for (const [name, p] of model.namedParameters()) {
    const candidates = o.sources?.(name) ?? [{ name }];
    const source = candidates.find((c) => reader.has(c.name));
    const optional = o.optional?.(name) ?? false;
    if (!source) {
      if (optional) {
        missing.push(name);
        continue;
      }
      const alternatives = candidates.slice(1).map((c) => `'${c.name}'`);
      throw new GiftjsError(`${reader.dir}: the checkpoint has no tensor '${candidates[0]!.name}'${alternatives.length ? ` (nor ${alternatives.join(', ')})` : ''}, which ${o.what} needs`);
    }
    used.add(source.name);
    const info = reader.info(source.name);
    // A row range of a fused tensor must have the parameter's shape once cut.
    const stored = source.rows ? [source.rows[1] - source.rows[0], ...info.shape.slice(1)] : info.shape;
    const inside = !source.rows || (source.rows[0] >= 0 && source.rows[1] <= (info.shape[0] ?? 0));
    const fits = inside && stored.length === p.rank && stored.every((d, i) => d === p.shape[i]);
    if (!fits) {
      if (optional) {
        missing.push(name);
        continue;
      }
      const what = source.rows ? `rows ${source.rows[0]}-${source.rows[1]} of tensor '${source.name}' ${shapeString(info.shape)}` : `tensor '${source.name}' has shape ${shapeString(info.shape)}`;
      throw new GiftjsError(`${reader.dir}: ${what}${source.rows ? ' do not fit' : ''}, the config implies ${shapeString(p.shape)} for '${name}'`);
    }
    const format = o.quantize?.(name, p) ?? null;
    if (source.rows) {
      const full = new Float32Array(info.shape.reduce((a, b) => a * b, 1));
      reader.readInto(source.name, full);
      const row = p.size / p.shape[0]!;
      p.assign(full.subarray(source.rows[0] * row, source.rows[1] * row));
    } else if (format) {
      if (!p.adoptQuantized(reader.readQuantized(source.name, format, `${reader.dir}: '${source.name}'`, o.copyStoredBlocks === true))) {
        throw new GiftjsError(`${o.what}: this backend keeps no quantized weights; --quantize runs on the CPU backends (native, ref)`);
      }
    } else if (info.dtype === 'BF16' && o.keepStoredDtype?.(name, p) && p.adoptBf16Bits(reader.readBf16Bits(source.name))) {
      // kept as stored: the float32 buffer the model was built with was never written
    } else if (info.dtype === 'F16' && p.rank === 2 && o.keepStoredDtype?.(name, p) && p.adoptFloat16Bits(reader.readF16Bits(source.name))) {
      // kept as stored too (never rounded to bfloat16: that would drop three mantissa bits)
    } else if (isBlockDtype(info.dtype) && o.keepStoredBlocks?.(name, p) && keepBlocks(reader, source.name, p, o.copyStoredBlocks === true)) {
      // a GGUF's blocks, quantized as stored or rounded to half precision (never widened to float32)
    } else if (info.dtype !== 'BF16' && o.roundToBf16?.(name, p) && p.adoptBf16Bits(reader.readRoundedBf16(source.name))) {
      // rounded one tensor at a time: the float32 model never exists
    } else {
      p.writeHost((values) => reader.readInto(source.name, values));
    }
    dtypes.set(name, info.dtype);
  }
  const unused = reader.names().filter((n) => !used.has(n) && !(o.ignore?.(n) ?? false));
  if (unused.length > 0) {
    throw new GiftjsError(`${reader.dir}: the checkpoint has tensors ${o.what} does not use: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', ...' : ''}`);
  }
  return { missing, dtypes };
}

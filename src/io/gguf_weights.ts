// A GGUF file's tensors under a model's Hugging Face names, for the strict loader: what a model
// folder made from a GGUF (models/gguf_import.ts) holds instead of safetensors. Its descriptor,
// gguf_source.json, names the file (with the digest of the header the folder was made from, so a file
// whose metadata or tensor table changed since is refused, not read as something else; the tensors'
// values are always read from the file as it is) and, for each parameter, the GGUF tensor it reads
// and whether its rows go back from llama.cpp's interleaved RoPE pairs to Hugging Face's halves.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GgufFile } from './gguf_reader.js';
import { readJsonFile } from './hf_folder.js';
import { permuteForRotateHalf } from './llama2c.js';
import { loadAddon } from '../backend/native/binding.js';
import { frozenWeightHalves, frozenWeightQuantized } from '../backend/huge_pages.js';
import { float32ToBf16, float32ToFloat16 } from '../formats/dtype.js';
import { QuantizedMatrix, type QuantFormat } from '../formats/quantized.js';
import { quantizeValues } from '../tensor/tensor.js';
import { GiftjsError } from '../errors.js';

export const GGUF_SOURCE_FILE = 'gguf_source.json';

/** The GGUF block types a frozen matrix keeps byte for byte, and the quantized format that holds each. */
export const STORED_BLOCK_FORMATS: Readonly<Record<string, QuantFormat>> = { Q8_0: 'int8', Q4_0: 'int4' };

/** Whether a checkpoint dtype is a GGUF block type (Q8_0, Q4_K, ...) rather than a float one. */
export function isBlockDtype(dtype: string): boolean {
  return !['F32', 'F16', 'BF16', 'F64'].includes(dtype);
}

/**
 * How frozen matrices of these dtypes are held (readFrozenBlocks), for messages: "Q4_0 and Q8_0 kept
 * as stored, Q4_K, Q6_K dequantized to float16"; null when none is a block type.
 */
export function describeFrozenBlocks(dtypes: Iterable<string>): string | null {
  const blocks = [...dtypes].filter(isBlockDtype);
  if (blocks.length === 0) return null;
  const kept = blocks.filter((d) => Object.hasOwn(STORED_BLOCK_FORMATS, d));
  const halves = blocks.filter((d) => !kept.includes(d));
  return [...(kept.length ? [`${kept.join(' and ')} kept as stored`] : []), ...(halves.length ? [`${halves.join(', ')} dequantized to float16`] : [])].join(', ');
}

/** Where a parameter's values are in the GGUF. */
export interface GgufTensorSource {
  tensor: string;
  /** Rows of these many heads reordered from interleaved pairs (llama.cpp) to halves (Hugging Face). */
  unpermuteHeads?: number;
  /**
   * Added to every value as it is read (Gemma's norms: llama.cpp stores transformers' 1 + weight). The
   * sums are float32, so such a tensor reads as F32 whatever the file stores.
   */
  offset?: number;
}

export interface GgufSourceDescriptor {
  path: string;
  /** sha256 of the file's header when the folder was made (GgufFile.headerDigest). */
  header: string;
  tensors: Record<string, GgufTensorSource>;
}

export class GgufWeights {
  private readonly file: GgufFile;
  private readonly map: Map<string, GgufTensorSource>;

  constructor(readonly dir: string) {
    const descriptorPath = join(dir, GGUF_SOURCE_FILE);
    const d = readJsonFile(descriptorPath) as unknown as GgufSourceDescriptor;
    if (typeof d.path !== 'string' || typeof d.tensors !== 'object' || d.tensors === null) throw new GiftjsError(`${descriptorPath}: not a GGUF source descriptor (path, tensors)`);
    if (!existsSync(d.path)) throw new GiftjsError(`${descriptorPath}: the GGUF it was made from, ${d.path}, is gone`);
    this.file = GgufFile.open(d.path);
    if (this.file.headerDigest() !== d.header) {
      this.file.close();
      throw new GiftjsError(`${d.path} changed since ${dir} was made from it (its metadata or tensor table differ); pass the .gguf file again as --model to read it afresh`);
    }
    this.map = new Map(Object.entries(d.tensors));
  }

  names(): string[] {
    return [...this.map.keys()];
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  private source(name: string): GgufTensorSource {
    const s = this.map.get(name);
    if (!s) throw new GiftjsError(`${this.dir}: the checkpoint has no tensor '${name}'`);
    return s;
  }

  /** Whether the parameter's rows go back from llama.cpp's RoPE order as read (a Q8_0/Q4_0 one is then copied, not mapped in place). */
  rowsReordered(name: string): boolean {
    return Boolean(this.source(name).unpermuteHeads);
  }

  info(name: string): { shape: number[]; dtype: string } {
    const s = this.source(name);
    const t = this.file.info(s.tensor);
    return { shape: t.shape, dtype: s.offset ? 'F32' : t.typeName };
  }

  readInto(name: string, out: Float32Array): void {
    const s = this.source(name);
    this.file.readInto(s.tensor, out);
    if (s.offset) for (let i = 0; i < out.length; i++) out[i] = out[i]! + s.offset;
    if (s.unpermuteHeads) {
      const [rows, cols] = this.file.info(s.tensor).shape as [number, number];
      out.set(permuteForRotateHalf(out, s.unpermuteHeads, rows, cols));
    }
  }

  private values(name: string): Float32Array {
    const info = this.info(name);
    const out = new Float32Array(info.shape.reduce((a, b) => a * b, 1));
    this.readInto(name, out);
    return out;
  }

  readBf16Bits(name: string): Uint16Array {
    // BF16 tensors widen to float32 exactly and round back to the same bits.
    return this.readRoundedBf16(name);
  }

  readF16Bits(name: string): Uint16Array {
    // F16 tensors widen to float32 exactly and round back to the same bits.
    const values = this.values(name);
    return float32ToFloat16(values, frozenWeightHalves(values.length));
  }

  readRoundedBf16(name: string): Uint16Array {
    const values = this.values(name);
    return float32ToBf16(values, frozenWeightHalves(values.length));
  }

  /**
   * A matrix quantized (--quantize): a Q4_0 one stays as stored (already 4-bit), a Q8_0 one too
   * unless int4 is asked for; anything else is quantized from its dequantized values.
   */
  readQuantized(name: string, format: QuantFormat, what: string, copyBlocks = false): QuantizedMatrix {
    const stored = this.info(name).dtype;
    const kept = STORED_BLOCK_FORMATS[stored] === 'int4' || STORED_BLOCK_FORMATS[stored] === format ? this.readStoredBlocks(name, copyBlocks) : null;
    if (kept) return kept;
    const [rows, cols] = this.info(name).shape as [number, number];
    return quantizeValues(this.values(name), rows, cols, format, what);
  }

  /**
   * A matrix of quantized blocks as a frozen weight holds it: Q8_0 and Q4_0 as stored -- int8 in
   * groups of 32, int4 in Q4_0 blocks, byte for byte (formats/quantized.ts follows GGUF's rules) --
   * and any other block type dequantized to float16 halves (rounded once: relative error up to
   * 2^-11, less than llama.cpp's own 8-bit activations add) where every value fits half precision.
   * Null for unquantized tensors and for values past float16's range (bfloat16 then holds them).
   */
  readFrozenBlocks(name: string, copyBlocks = false): QuantizedMatrix | null {
    const s = this.source(name);
    const t = this.file.info(s.tensor);
    if (s.offset || t.shape.length !== 2 || !isBlockDtype(t.typeName)) return null;
    const stored = this.readStoredBlocks(name, copyBlocks);
    if (stored) return stored;
    const values = this.values(name);
    const halves = float32ToFloat16(values, frozenWeightHalves(values.length));
    if (!halves.every((h, i) => (h & 0x7c00) !== 0x7c00 || !Number.isFinite(values[i]!))) return null; // rounded to infinity
    return QuantizedMatrix.ofFloat16(t.shape[0]!, t.shape[1]!, halves);
  }

  /**
   * A Q8_0 or Q4_0 matrix as it is stored -- mapped in place where the file maps, unless `copy` (or
   * its rows are reordered), else copied apart into codes and scales; null for any other type.
   */
  private readStoredBlocks(name: string, copy: boolean): QuantizedMatrix | null {
    const s = this.source(name);
    const t = this.file.info(s.tensor);
    const format = Object.hasOwn(STORED_BLOCK_FORMATS, t.typeName) ? STORED_BLOCK_FORMATS[t.typeName]! : null;
    if (!format || s.offset || t.shape.length !== 2) return null;
    const [rows, cols] = t.shape as [number, number];
    // In place where the file maps and the rows stay in order: the blocks are the matrix's as the
    // kernels read them (interleaved), so loading costs no copy and pages come in at first use.
    const mapped = s.unpermuteHeads || copy ? null : this.file.mapTensor(s.tensor);
    if (mapped && mapped.byteOffset % 2 === 0) return QuantizedMatrix.ofGgufBlocks(format, rows, cols, mapped);
    const q = frozenWeightQuantized(format, rows, cols, 32); // new memory, written once below and kept
    // A block is d (two bytes) then its codes (32 or 16 bytes): block k's codes go to k * codeBytes, its d to scale k.
    const codeBytes = format === 'int8' ? 32 : 16;
    const { codes, scales } = q;
    const native = loadAddon().addon?.splitBlocks;
    this.file.readBlocks(s.tensor, (bytes, first, blocks) => {
      if (native) native(bytes, blocks, codeBytes, codes, first * codeBytes, scales, first);
      else splitBlocks(bytes, blocks, codeBytes, codes, first * codeBytes, scales, first);
    });
    if (s.unpermuteHeads) {
      codes.set(permuteForRotateHalf(codes, s.unpermuteHeads, rows, q.rowBytes));
      scales.set(permuteForRotateHalf(scales, s.unpermuteHeads, rows, q.groupsPerRow));
    }
    return q;
  }

  close(): void {
    this.file.close();
  }
}

/** The native addon's splitBlocks in TypeScript: blocks of (d, codeBytes of codes) into a matrix's codes and scales. */
function splitBlocks(blocks: Uint8Array, count: number, codeBytes: number, codes: Uint8Array, codes0: number, scales: Uint16Array, scales0: number): void {
  const blockBytes = codeBytes + 2;
  for (let k = 0; k < count; k++) {
    const from = k * blockBytes;
    scales[scales0 + k] = blocks[from]! | (blocks[from + 1]! << 8);
    codes.set(blocks.subarray(from + 2, from + blockBytes), codes0 + k * codeBytes);
  }
}

// Hugging Face model folders: config.json, weights in one safetensors file or in shards listed by
// model.safetensors.index.json, and tokenizer files.
import type { QuantFormat, QuantizedMatrix } from '../formats/quantized.js';
import { sizeOf } from '../tensor/shape.js';
import { withAllocationBudget } from '../tensor/memory.js';
import { fileExists, listFolder, readTextFile } from './files.js';
import { basename, join } from 'node:path';
import { SafetensorsFile } from './safetensors.js';
import { GGUF_SOURCE_FILE, GgufWeights } from './gguf_weights.js';
import type { Tensor } from '../tensor/tensor.js';
import { GiftjsError } from '../errors.js';

/** Parses a JSON file, with errors that name it. */
export function readJsonFile<T = Record<string, unknown>>(path: string): T {
  if (!fileExists(path)) throw new GiftjsError(`${path} does not exist`);
  const text = readTextFile(path); // an unreadable file says why, not "not valid JSON"
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new GiftjsError(`${path} is not valid JSON: ${err instanceof RangeError ? 'nested too deeply' : (err as Error).message}`);
  }
  // Every giftjs and Hugging Face JSON file is an object at the top.
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new GiftjsError(`${path}: expected a JSON object, got ${JSON.stringify(value)}`);
  return value as T;
}

/**
 * A config's id2label as a list: its keys must be exactly "0" .. "n-1" (a gap or a stray key would
 * shift every label after it), its values strings.
 */
export function parseId2label(raw: unknown, source: string): string[] | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new GiftjsError(`${source}: 'id2label' must be an object {"0": name, ...}, got ${JSON.stringify(raw)}`);
  const entries = Object.entries(raw as Record<string, unknown>);
  const labels: string[] = [];
  for (const [key, value] of entries) {
    const i = Number(key);
    if (!/^(0|[1-9]\d*)$/.test(key) || i >= entries.length) throw new GiftjsError(`${source}: id2label key ${JSON.stringify(key)} is not an index 0..${entries.length - 1}`);
    if (typeof value !== 'string') throw new GiftjsError(`${source}: id2label[${key}] must be a string, got ${JSON.stringify(value)}`);
    labels[i] = value;
  }
  return labels;
}

/** Every tensor of a model folder, across shards, read on demand. */
export class CheckpointReader {
  private readonly files: SafetensorsFile[] = [];
  private readonly index = new Map<string, SafetensorsFile>();
  /** A folder made from a GGUF file reads its tensors from there (io/gguf_weights.ts). */
  private readonly gguf: GgufWeights | null = null;

  constructor(readonly dir: string) {
    if (fileExists(join(dir, GGUF_SOURCE_FILE))) {
      this.gguf = new GgufWeights(dir);
      return;
    }
    const indexPath = join(dir, 'model.safetensors.index.json');
    let names: string[];
    if (fileExists(indexPath)) {
      const idx = readJsonFile<{ weight_map?: Record<string, string> }>(indexPath);
      if (!idx.weight_map || typeof idx.weight_map !== 'object') throw new GiftjsError(`${indexPath} has no weight_map`);
      names = [...new Set(Object.values(idx.weight_map))];
      // Shards live in the folder itself: a name with a path in it (../, /etc/...) is refused.
      const outside = names.find((n) => typeof n !== 'string' || n !== basename(n) || n === '.' || n === '..' || !n.endsWith('.safetensors'));
      if (outside !== undefined) throw new GiftjsError(`${indexPath}: weight_map names the file ${JSON.stringify(outside)}; shards must be .safetensors files in ${dir} itself`);
    } else if (fileExists(join(dir, 'model.safetensors'))) {
      names = ['model.safetensors'];
    } else {
      names = listFolder(dir).filter((f) => f.endsWith('.safetensors'));
      if (names.length === 0) {
        const hasBin = fileExists(join(dir, 'pytorch_model.bin'));
        throw new GiftjsError(`${dir}: no safetensors weights found${hasBin ? ' (pytorch_model.bin is not supported: convert it to safetensors)' : ''}`);
      }
    }
    try {
      for (const name of names) {
        const f = SafetensorsFile.open(join(dir, name));
        this.files.push(f);
        for (const t of f.tensors.keys()) {
          if (this.index.has(t)) throw new GiftjsError(`${dir}: tensor '${t}' appears in both ${this.index.get(t)!.path} and ${f.path}`);
          this.index.set(t, f);
        }
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  names(): string[] {
    if (this.gguf) return this.gguf.names();

    return [...this.index.keys()];
  }

  has(name: string): boolean {
    if (this.gguf) return this.gguf.has(name);

    return this.index.has(name);
  }

  info(name: string): { shape: number[]; dtype: string } {
    if (this.gguf) return this.gguf.info(name);

    return this.file(name).info(name);
  }

  read(name: string): Tensor {
    return this.file(name).readTensor(name);
  }

  readInto(name: string, out: Float32Array): void {
    if (this.gguf) return this.gguf.readInto(name, out);

    this.file(name).readInto(name, out);
  }

  readBf16Bits(name: string): Uint16Array {
    if (this.gguf) return this.gguf.readBf16Bits(name);

    return this.file(name).readBf16Bits(name);
  }

  readF16Bits(name: string): Uint16Array {
    if (this.gguf) return this.gguf.readF16Bits(name);

    return this.file(name).readF16Bits(name);
  }

  readRoundedBf16(name: string): Uint16Array {
    if (this.gguf) return this.gguf.readRoundedBf16(name);

    return this.file(name).readRoundedBf16(name);
  }

  /** `copyBlocks`: a GGUF's blocks kept as stored are copied apart, not mapped in place (GgufWeights.readQuantized). */
  readQuantized(name: string, format: QuantFormat, what: string, copyBlocks = false): QuantizedMatrix {
    if (this.gguf) return this.gguf.readQuantized(name, format, what, copyBlocks);

    return this.file(name).readQuantized(name, format, what);
  }

  /** Whether a GGUF parameter's rows are reordered as read (GgufWeights.rowsReordered); false for safetensors. */
  rowsReordered(name: string): boolean {
    return this.gguf ? this.gguf.rowsReordered(name) : false;
  }

  /** A GGUF's quantized matrix as a frozen weight holds it (GgufWeights.readFrozenBlocks); null for any other tensor. */
  readFrozenBlocks(name: string, copyBlocks = false): QuantizedMatrix | null {
    return this.gguf ? this.gguf.readFrozenBlocks(name, copyBlocks) : null;
  }

  private file(name: string): SafetensorsFile {
    const f = this.index.get(name);
    if (!f) throw new GiftjsError(`${this.dir}: the checkpoint has no tensor '${name}'`);
    return f;
  }

  close(): void {
    this.gguf?.close();
    for (const f of this.files) f.close();
  }
}

/** Opens a model folder's checkpoint for `read` and closes it however `read` ends. */
/**
 * Builds a model for a checkpoint folder and fills it: build() runs within the memory the
 * checkpoint's tensors prove (plus room for a new head), so a config.json declaring a far larger
 * model fails before allocating it; then load(model, reader) reads the weights.
 */
export function loadFromCheckpoint<M, R>(dir: string, build: () => M, load: (model: M, reader: CheckpointReader) => R): { model: M; loaded: R } {
  return withCheckpoint(dir, (reader) => {
    const stored = reader.names().reduce((n, name) => n + sizeOf(reader.info(name).shape), 0);
    const room = Math.ceil(stored * 1.05) + NEW_HEAD_ROOM_FLOATS;
    const model = withAllocationBudget(room, `${join(dir, 'config.json')} declares a model larger than its checkpoint (which holds ${stored} values): check vocab_size, hidden_size, num_hidden_layers and the other sizes`, build);
    return { model, loaded: load(model, reader) };
  });
}

/** Floats a model may hold beyond its checkpoint: a new classification head, buffers. */
const NEW_HEAD_ROOM_FLOATS = 16 * 1024 * 1024;

export function withCheckpoint<T>(dir: string, read: (reader: CheckpointReader) => T): T {
  const reader = new CheckpointReader(dir);
  try {
    return read(reader);
  } finally {
    reader.close();
  }
}

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
import { float32ToBf16, float32ToFloat16 } from '../tensor/dtype.js';
import { quantizeReference, type QuantFormat, type QuantizedMatrix } from '../tensor/quantized.js';
import { GiftjsError } from '../errors.js';

export const GGUF_SOURCE_FILE = 'gguf_source.json';

/** Where a parameter's values are in the GGUF. */
export interface GgufTensorSource {
  tensor: string;
  /** Rows of these many heads reordered from interleaved pairs (llama.cpp) to halves (Hugging Face). */
  unpermuteHeads?: number;
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

  info(name: string): { shape: number[]; dtype: string } {
    const t = this.file.info(this.source(name).tensor);
    return { shape: t.shape, dtype: t.typeName };
  }

  readInto(name: string, out: Float32Array): void {
    const s = this.source(name);
    this.file.readInto(s.tensor, out);
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
    return float32ToFloat16(this.values(name));
  }

  readRoundedBf16(name: string): Uint16Array {
    return float32ToBf16(this.values(name));
  }

  readQuantized(name: string, format: QuantFormat, what: string): QuantizedMatrix {
    const [rows, cols] = this.info(name).shape as [number, number];
    return quantizeReference(this.values(name), rows, cols, format, what);
  }

  close(): void {
    this.file.close();
  }
}

// The weights of a TensorFlow.js graph model (model.json + its binary shards), read without
// TensorFlow.js: the manifest lists every weight's name, shape and dtype in the order the shards
// hold them, back to back.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile } from './hf_folder.js';
import { GiftjsError } from '../errors.js';

export interface TfjsWeight {
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}

/** Every weight of a graph model folder by its graph name. Quantized or non-32-bit weights are refused by name. */
export function readTfjsWeights(dir: string): Map<string, TfjsWeight> {
  const modelPath = join(dir, 'model.json');
  const model = readJsonFile(modelPath);
  const groups = model.weightsManifest as { paths: string[]; weights: ManifestEntry[] }[] | undefined;
  if (!Array.isArray(groups)) throw new GiftjsError(`${modelPath}: no weightsManifest (not a TensorFlow.js graph model)`);
  const out = new Map<string, TfjsWeight>();
  for (const group of groups) {
    const shards = group.paths.map((p) => {
      try {
        return readFileSync(join(dir, p));
      } catch (err) {
        throw new GiftjsError(`${modelPath}: cannot read weight shard '${p}' (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    });
    const bytes = Buffer.concat(shards);
    let offset = 0;
    for (const w of group.weights) {
      if (w.quantization) throw new GiftjsError(`${modelPath}: weight '${w.name}' is quantized; only float32/int32 graphs are supported`);
      if (w.dtype !== 'float32' && w.dtype !== 'int32') throw new GiftjsError(`${modelPath}: weight '${w.name}' has dtype ${w.dtype}; only float32/int32 are supported`);
      const count = w.shape.reduce((a, b) => a * b, 1);
      const end = offset + 4 * count;
      if (end > bytes.length) throw new GiftjsError(`${modelPath}: the shards end at byte ${bytes.length} but '${w.name}' needs bytes ${offset}..${end}`);
      // Copy out: the concatenated buffer's offsets need not be 4-byte aligned for typed-array views.
      const slice = new Uint8Array(bytes.subarray(offset, end));
      const data = w.dtype === 'float32' ? new Float32Array(slice.buffer) : new Int32Array(slice.buffer);
      out.set(w.name, { shape: w.shape, dtype: w.dtype, data });
      offset = end;
    }
    if (offset !== bytes.length) throw new GiftjsError(`${modelPath}: the manifest accounts for ${offset} bytes, the shards hold ${bytes.length}`);
  }
  return out;
}

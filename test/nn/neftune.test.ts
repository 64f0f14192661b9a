// NEFTune on the token embedding (Embedding.noiseAlpha): in training mode, uniform noise in [-m, m] with
// m = alpha / sqrt(L x d) -- the paper's formula (Jain et al., 2023, Algorithm 1), which transformers'
// neftune_post_forward_hook computes from the output's size(1) x size(2) -- and none in evaluation mode;
// reseeded per step, so a resumed run draws the noise it would have.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Embedding, reseedRandomness } from '../../src/nn/layers.js';
import { Random } from '../../src/tensor/random.js';

test('NEFTune: uniform noise of magnitude alpha / sqrt(length x dim) in training, none in evaluation, the same for the same step seed', () => {
  const [batch, seq, dim, alpha] = [3, 40, 64, 5];
  const e = new Embedding(100, dim, new Random(1), 0.02);
  const ids = Array.from({ length: batch * seq }, (_, i) => (i * 37) % 100);
  const clean = e.forward(ids, [batch, seq]).toArray();
  e.noiseAlpha = alpha;
  e.eval();
  assert.deepEqual(e.forward(ids, [batch, seq]).toArray(), clean, 'evaluation mode adds nothing');
  e.train();
  reseedRandomness(e, 11);
  const noisy = e.forward(ids, [batch, seq]).toArray();
  const bound = alpha / Math.sqrt(seq * dim);
  const diffs = noisy.map((v, i) => v - clean[i]!);
  const most = Math.max(...diffs.map(Math.abs));
  // (Float32 sums: the bound within rounding of the embeddings' magnitude.)
  assert.ok(most <= bound * (1 + 1e-5) + 1e-6, `${most} > ${bound}`);
  assert.ok(most > 0.99 * bound, `the largest of ${diffs.length} draws, ${most}, is near the bound ${bound}`);
  const meanAbs = diffs.reduce((n, d) => n + Math.abs(d), 0) / diffs.length;
  assert.ok(Math.abs(meanAbs / (bound / 2) - 1) < 0.05, `mean |noise| ${meanAbs} against ${bound / 2} for a uniform draw`);
  const mean = diffs.reduce((n, d) => n + d, 0) / diffs.length;
  assert.ok(Math.abs(mean) < 0.05 * bound, `mean noise ${mean}`);
  // Each forward draws anew; a step reseeded alike draws the same again, another step otherwise.
  assert.notDeepEqual(e.forward(ids, [batch, seq]).toArray(), noisy);
  reseedRandomness(e, 11);
  assert.deepEqual(e.forward(ids, [batch, seq]).toArray(), noisy);
  reseedRandomness(e, 12);
  assert.notDeepEqual(e.forward(ids, [batch, seq]).toArray(), noisy);
  // A longer row draws smaller noise: L is the row's length (padded or packed), as transformers reads it.
  const long = e.forward(Array.from({ length: 4 * seq }, () => 5), [1, 4 * seq]).toArray();
  e.eval();
  const base = e.forward([5], [1, 1]).toArray();
  const mostLong = Math.max(...long.map((v, i) => Math.abs(v - base[i % dim]!)));
  assert.ok(mostLong <= alpha / Math.sqrt(4 * seq * dim) * (1 + 1e-5) + 1e-6 && mostLong > 0.9 * alpha / Math.sqrt(4 * seq * dim), String(mostLong));
});

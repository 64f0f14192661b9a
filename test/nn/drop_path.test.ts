// DropPath (stochastic depth): in training mode each example's values are all kept, scaled by 1 / (1 - p),
// or all zeroed, a fraction p of the examples (within 6 binomial standard deviations); the gradient passes
// through the same mask; evaluation mode and p = 0 are the identity. Where it sits in ViT and its rates
// are checked against timm's rule on transformers' ViT in test/models/encoder_dropout.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DropPath } from '../../src/nn/layers.js';
import { Random } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { testEachBackend } from '../helpers.js';

testEachBackend('DropPath keeps or drops each example whole, a fraction p of them, and its gradient follows the same mask', () => {
  const [B, T, D] = [4000, 3, 5];
  const x = Tensor.fromArray(Array.from({ length: B * T * D }, (_, i) => 1 + (i % 7)), [B, T, D]).requireGrad();
  const layer = new DropPath();
  layer.p = 0.3;
  layer.rng = new Random(8);
  layer.train();
  const y = layer.forward(x);
  y.backward(Tensor.ones([B, T, D]));
  const keep = Math.fround(1 / 0.7);
  const yd = y.data;
  const g = x.grad!.data;
  const xd = x.data;
  let dropped = 0;
  for (let b = 0; b < B; b++) {
    const factor = yd[b * T * D] === 0 ? 0 : keep;
    if (factor === 0) dropped++;
    for (let j = 0; j < T * D; j++) {
      const i = b * T * D + j;
      assert.equal(yd[i], Math.fround(xd[i]! * factor), `example ${b}, value ${j}`);
      assert.equal(g[i], factor, `gradient of example ${b}, value ${j}`);
    }
  }
  const sd = Math.sqrt(B * 0.3 * 0.7);
  assert.ok(Math.abs(dropped - 0.3 * B) < 6 * sd, `${dropped} of ${B} examples dropped, expected ${0.3 * B} +- ${sd.toFixed(0)}`);
  layer.eval();
  assert.equal(layer.forward(x), x, 'evaluation mode: the identity');
  layer.train();
  layer.p = 0;
  assert.equal(layer.forward(x), x, 'p = 0: the identity');
});

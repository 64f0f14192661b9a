// NaN and infinity propagate through every kernel as they do in IEEE float math (and in PyTorch):
// a NaN in a row makes that row's softmax, log-sum-exp and loss NaN, never a finite number.
import assert from 'node:assert/strict';
import { scaledDotProductAttention } from '../../src/ops/attention.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { gelu, relu, silu, tanh } from '../../src/ops/activations.js';
import { layerNorm, rmsNorm } from '../../src/ops/norms.js';
import { logSoftmax, softmax } from '../../src/ops/softmax.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { randn, testEachBackend } from '../helpers.js';

const values = (t: Tensor) => Array.from(t.toFloat32Array());

testEachBackend('softmax and log-softmax: a NaN makes its row NaN; so does +inf', () => {
  noGrad(() => {
    // Rows of 20 so the 16-wide vector path and its tail both see the NaN.
    const row = (k: number, v: number) => Array.from({ length: 20 }, (_, i) => (i === k ? v : i / 7));
    const x = Tensor.fromArray([...row(1, NaN), ...row(17, NaN), ...row(3, 2)], [3, 20]);
    const s = values(softmax(x));
    assert.ok(s.slice(0, 40).every(Number.isNaN), 'rows with a NaN are NaN (the native exp clamped NaN to a finite value)');
    assert.ok(s.slice(40).every(Number.isFinite));
    const l = values(logSoftmax(x));
    assert.ok(l.slice(0, 40).every(Number.isNaN));
    // max = +inf, so exp(inf - inf) = NaN and the row's sum is NaN: the whole row is NaN.
    assert.ok(values(softmax(Tensor.fromArray(row(2, Infinity), [1, 20]))).every(Number.isNaN));
    const small = values(softmax(Tensor.fromArray([0, -Infinity, 1000, 999], [1, 4])));
    assert.deepEqual(small.map((v) => Math.round(v * 1e6) / 1e6), [0, 0, 0.731059, 0.268941]);
  });
});

testEachBackend('cross-entropy of a NaN logit is NaN, and its gradient too', () => {
  const logits = Tensor.fromArray([0.1, NaN, 0.3, 0.2, 0.5, 0.1], [2, 3]).requireGrad();
  const loss = crossEntropy(logits, [0, 2]);
  assert.ok(Number.isNaN(loss.item()));
  loss.backward();
  assert.ok(Array.from(logits.grad!.data.subarray(0, 3)).every(Number.isNaN));
});

testEachBackend('attention, norms and activations carry a NaN through', () => {
  noGrad(() => {
    const q = randn([1, 2, 5, 16], 1);
    q.data[7] = NaN;
    const k = randn([1, 2, 5, 16], 2);
    const v = randn([1, 2, 5, 16], 3);
    const a = values(scaledDotProductAttention(q, k, v, { causal: true }));
    assert.ok(a.slice(0, 16).every(Number.isNaN), 'the query row with a NaN attends to NaN');
    assert.ok(a.slice(16).every(Number.isFinite), 'other rows are untouched');
    const x = randn([2, 20], 4);
    x.data[3] = NaN;
    const w = Tensor.ones([20]);
    for (const out of [rmsNorm(x, w), layerNorm(x, w, null)]) {
      const o = values(out);
      assert.ok(o.slice(0, 20).every(Number.isNaN) && o.slice(20).every(Number.isFinite));
    }
    for (const f of [gelu, silu, relu, tanh]) assert.ok(Number.isNaN(values(f(x))[3]!), f.name);
  });
});

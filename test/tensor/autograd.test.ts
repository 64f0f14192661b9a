import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getBackend, withBackend } from '../../src/backend/index.js';
import type { Backend, GemmArgs } from '../../src/backend/backend.js';
import { add, mul, scale } from '../../src/ops/elementwise.js';
import { linear } from '../../src/ops/matmul.js';
import { rmsNorm } from '../../src/ops/norms.js';
import { sum } from '../../src/ops/reduce.js';
import { isGradEnabled, noGrad } from '../../src/tensor/autograd.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { randn } from '../helpers.js';

test('backward through a chain gives the chain rule', () => {
  const x = Tensor.fromArray([1, 2, 3]).requireGrad();
  const y = sum(mul(scale(x, 3), x)); // 3 x^2 -> 6x
  y.backward();
  assert.deepEqual(Array.from(x.grad!.data), [6, 12, 18]);
  // gradients accumulate across backward calls until zeroGrad
  sum(x).backward();
  assert.deepEqual(Array.from(x.grad!.data), [7, 13, 19]);
  x.zeroGrad();
  assert.equal(x.grad, null);
});

test('noGrad records nothing and saves nothing', () => {
  const x = randn([3], 1, true);
  const y = noGrad(() => {
    assert.equal(isGradEnabled(), false);
    return mul(x, x);
  });
  assert.equal(isGradEnabled(), true);
  assert.equal(y.requiresGrad, false);
  assert.equal(y.gradFn, null);
  assert.throws(() => y.backward(), /does not require a gradient/);
});

test('backward of a non-scalar needs its gradient, of the right shape', () => {
  const x = randn([2, 2], 2, true);
  const y = add(x, x);
  assert.throws(() => y.backward(), /not a scalar; pass its gradient/);
  assert.throws(() => y.backward(Tensor.ones([4])), /gradient of shape \[4\] given for a tensor of shape \[2, 2\]/);
});

test('a frozen weight costs no gradient GEMM: only the input gradient is computed', () => {
  const gemms: GemmArgs[] = [];
  const base = getBackend();
  const counting: Backend = { ...base, gemm: (a) => { gemms.push(a); base.gemm(a); } };
  withBackend(counting, () => {
    const x = randn([4, 8], 3, true);
    const frozen = randn([6, 8], 4);
    const trainable = randn([5, 6], 5, true);
    const loss = sum(linear(linear(x, frozen), trainable));
    gemms.length = 0;
    loss.backward();
    // trainable: dW and dx (2 GEMMs); frozen: dx only (1 GEMM), since x requires a gradient
    assert.equal(gemms.length, 3);
    assert.equal(frozen.grad, null);
    const x2 = randn([4, 8], 3); // now nothing below `frozen` needs a gradient
    const loss2 = sum(linear(linear(x2, frozen), trainable));
    gemms.length = 0;
    loss2.backward();
    assert.equal(gemms.length, 1, 'only dW of the trainable layer');
  });
});

test('a frozen norm weight is not differentiated either', () => {
  const x = randn([2, 8], 6, true);
  const w = randn([8], 7);
  sum(rmsNorm(x, w)).backward();
  assert.equal(w.grad, null);
  assert.ok(x.grad);
});

test('the graph is released after backward', () => {
  const x = randn([3], 8, true);
  const y = sum(mul(x, x));
  y.backward();
  assert.equal(y.gradFn, null);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { embedding } from '../../src/ops/gather.js';
import { mean, sum } from '../../src/ops/reduce.js';
import { concat, permute, reshape, slice, transpose } from '../../src/ops/shape_ops.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { assertClose, assertGradcheck, randn, testEachBackend } from '../helpers.js';

const iota = (shape: number[]) => Tensor.fromArray(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i), shape);

test('reshape shares the buffer, infers -1, and refuses impossible shapes', () => {
  const x = iota([2, 3, 4]);
  const y = reshape(x, [4, -1]);
  assert.deepEqual(y.shape, [4, 6]);
  assert.equal(y.data, x.data);
  assert.throws(() => reshape(x, [5, -1]), /cannot reshape \[2, 3, 4\] into \[5, -1\]/);
  assert.throws(() => reshape(x, [7, 3]), /cannot reshape \[2, 3, 4\] \(24 values\) into \[7, 3\]/);
  assertGradcheck((t) => reshape(t, [6, 2]), [randn([3, 4], 1, true)], 'reshape');
});

testEachBackend('permute and transpose move values to the right places', () => {
  const x = iota([2, 3, 4]);
  const p = permute(x, [2, 0, 1]); // p[k, i, j] = x[i, j, k]
  assert.deepEqual(p.shape, [4, 2, 3]);
  for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) {
    assert.equal(p.data[k * 6 + i * 3 + j], x.data[i * 12 + j * 4 + k]);
  }
  const t = transpose(x, 0, -1);
  assert.deepEqual(t.shape, [4, 3, 2]);
  assert.equal(t.data[3 * 6 + 2 * 2 + 1], x.data[1 * 12 + 2 * 4 + 3]);
  assert.throws(() => permute(x, [0, 0, 1]), /not a permutation of the 3 dimensions of \[2, 3, 4\]/);
  assertGradcheck((a) => permute(a, [1, 2, 0]), [randn([2, 3, 4], 2, true)], 'permute');
  assertGradcheck((a) => transpose(a, 1, 3), [randn([2, 3, 1, 5], 3, true)], 'transpose');
});

testEachBackend('a permutation that moves only dimensions of length 1 is a view with the values in place', () => {
  // Decoding's one token: [batch, seq = 1, heads, hd] -> [batch, heads, 1, hd].
  const x = iota([2, 1, 3, 4]);
  const t = transpose(x, 1, 2);
  assert.deepEqual(t.shape, [2, 3, 1, 4]);
  for (let b = 0; b < 2; b++) for (let h = 0; h < 3; h++) for (let d = 0; d < 4; d++) {
    assert.equal(t.data[b * 12 + h * 4 + d], x.data[b * 12 + h * 4 + d]);
  }
  assert.equal(t.buffer, x.buffer, 'a view of x, not a copy');
  assertGradcheck((a) => transpose(a, 1, 2), [randn([2, 1, 3, 4], 4, true)], 'transpose of a length-1 dimension');
  // Length-1 dimensions moved while two longer ones swap: a copy, each value moved.
  const y = iota([1, 3, 1, 4]);
  const u = permute(y, [2, 3, 0, 1]); // u[0, d, 0, h] = y[0, h, 0, d]
  assert.deepEqual(u.shape, [1, 4, 1, 3]);
  assert.notEqual(u.buffer, y.buffer);
  for (let h = 0; h < 3; h++) for (let d = 0; d < 4; d++) assert.equal(u.data[d * 3 + h], y.data[h * 4 + d]);
});

test('slice and concat are inverse and have exact gradients', () => {
  const x = iota([2, 5, 3]);
  const a = slice(x, 1, 0, 2);
  const b = slice(x, 1, 2, 5);
  assert.deepEqual(Array.from(a.data), [0, 1, 2, 3, 4, 5, 15, 16, 17, 18, 19, 20]);
  assert.deepEqual(Array.from(concat([a, b], 1).data), Array.from(x.data));
  assert.throws(() => slice(x, 1, 3, 6), /\[3, 6\) is not inside axis 1 \(length 5\) of \[2, 5, 3\]/);
  assert.throws(() => concat([iota([2, 3]), iota([3, 3])], 1), /concat: shapes \[2, 3\] and \[3, 3\] differ outside axis 1/);
  assertGradcheck((t) => slice(t, -1, 1, 3), [randn([3, 4], 4, true)], 'slice');
  assertGradcheck((p, q) => concat([p, q], 0), [randn([2, 3], 5, true), randn([1, 3], 6, true)], 'concat axis 0');
  assertGradcheck((p, q) => concat([p, q], 1), [randn([2, 3], 7, true), randn([2, 1], 8, true)], 'concat axis 1');
});

test('embedding picks rows and scatters gradients back, repeated ids added', () => {
  const w = randn([6, 4], 9, true);
  const ids = [5, 0, 5, 2];
  const e = embedding(w, ids, [2, 2]);
  assert.deepEqual(e.shape, [2, 2, 4]);
  ids.forEach((id, i) => assertClose(e.data.subarray(i * 4, i * 4 + 4), w.data.subarray(id * 4, id * 4 + 4), `row ${i}`, 0, 0));
  assertGradcheck((t) => embedding(t, ids, [2, 2]), [w], 'embedding');
  assert.throws(() => embedding(w, [1, 6]), /id 6 at position 1 is outside the table of 6 rows/);
});

test('sum and mean over axes, with and without keepDims, match float64 math', () => {
  const x = randn([2, 3, 4], 10, true);
  const d = x.data;
  const s1 = sum(x, 1);
  assert.deepEqual(s1.shape, [2, 4]);
  for (let i = 0; i < 2; i++) for (let k = 0; k < 4; k++) {
    let e = 0;
    for (let j = 0; j < 3; j++) e += d[i * 12 + j * 4 + k]!;
    assertClose([s1.data[i * 4 + k]!], [e], 'sum axis 1');
  }
  assert.deepEqual(mean(x, [0, 2], true).shape, [1, 3, 1]);
  const all = Array.from(d).reduce((a, b) => a + b, 0);
  assertClose([mean(x).item()], [all / 24], 'mean of all');
  assert.deepEqual(sum(x).shape, []);
  assertGradcheck((t) => sum(t, [0, 2]), [x], 'sum');
  assertGradcheck((t) => mean(t, -1, true), [x], 'mean keepDims');
  assert.throws(() => sum(x, 3), /sum: axis 3 is out of range for a tensor of rank 3/);
});

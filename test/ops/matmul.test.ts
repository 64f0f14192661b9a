import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addmm, linear, matmul } from '../../src/ops/matmul.js';
import { assertBackendsAgree, assertClose, assertGradcheck, randn, testEachBackend } from '../helpers.js';
import { matmul64, transpose64 } from '../reference64.js';

// Shapes chosen to cross the kernels' tile sizes (14x32, 6x16, 4x8) and K blocking, plus size 1.
const SHAPES: [number, number, number][] = [[1, 1, 1], [1, 7, 3], [5, 1, 9], [17, 33, 65], [29, 47, 300], [64, 64, 64]];

testEachBackend('matmul matches float64 math for every transpose combination', () => {
  for (const [M, K, N] of SHAPES) {
    for (const transA of [false, true]) for (const transB of [false, true]) {
      const a = randn(transA ? [K, M] : [M, K], M * 7 + K);
      const b = randn(transB ? [N, K] : [K, N], N * 3 + K);
      const A = transA ? transpose64(a.data, K, M) : Array.from(a.data);
      const B = transB ? transpose64(b.data, N, K) : Array.from(b.data);
      const c = matmul(a, b, { transposeA: transA, transposeB: transB });
      assert.deepEqual(c.shape, [M, N]);
      assertClose(c.data, matmul64(A, B, M, K, N), `matmul ${M}x${K}x${N} tA=${transA} tB=${transB}`, 1e-4, 1e-4);
    }
  }
});

testEachBackend('batched matmul, with a per-batch and with a shared right operand', () => {
  const a = randn([2, 3, 5, 4], 1);
  const b = randn([2, 3, 4, 6], 2);
  const shared = randn([4, 6], 3);
  const c = matmul(a, b);
  const cs = matmul(a, shared);
  assert.deepEqual(c.shape, [2, 3, 5, 6]);
  for (let i = 0; i < 6; i++) {
    const Ai = a.data.subarray(i * 20, (i + 1) * 20);
    assertClose(c.data.subarray(i * 30, (i + 1) * 30), matmul64(Ai, b.data.subarray(i * 24, (i + 1) * 24), 5, 4, 6), `batch ${i}`);
    assertClose(cs.data.subarray(i * 30, (i + 1) * 30), matmul64(Ai, shared.data, 5, 4, 6), `shared batch ${i}`);
  }
});

testEachBackend('matmul gradients match finite differences (all transposes, batched, shared)', () => {
  for (const transA of [false, true]) for (const transB of [false, true]) {
    const a = randn(transA ? [2, 4, 3] : [2, 3, 4], 11, true);
    const b = randn(transB ? [2, 5, 4] : [2, 4, 5], 12, true);
    assertGradcheck((x, y) => matmul(x, y, { transposeA: transA, transposeB: transB }), [a, b], `batched tA=${transA} tB=${transB}`);
    const s = randn(transB ? [5, 4] : [4, 5], 13, true);
    assertGradcheck((x, y) => matmul(x, y, { transposeA: transA, transposeB: transB }), [a, s], `shared tA=${transA} tB=${transB}`);
  }
});

testEachBackend('linear is x W^T + b and its gradients match finite differences', () => {
  const x = randn([2, 3, 7], 21, true);
  const w = randn([5, 7], 22, true);
  const b = randn([5], 23, true);
  const y = linear(x, w, b);
  assert.deepEqual(y.shape, [2, 3, 5]);
  const expected = matmul64(x.data, transpose64(w.data, 5, 7), 6, 7, 5).map((v, i) => v + b.data[i % 5]!);
  assertClose(y.data, expected, 'linear forward');
  assertGradcheck((x, w, b) => linear(x, w, b), [x, w, b], 'linear with bias');
  assertGradcheck((x, w) => linear(x, w), [x, w], 'linear without bias');
});

testEachBackend('addmm is c + alpha a b (float64 math) and its gradients match finite differences', () => {
  for (const [M, K, N] of SHAPES) {
    const a = randn([2, M, K], M + K, true);
    const b = randn([K, N], N + 1, true);
    const c = randn([2, M, N], M + N + 2, true);
    for (const alpha of [1, -0.75]) {
      const prod = [0, 1].flatMap((i) => matmul64(Array.from(a.data.subarray(i * M * K, (i + 1) * M * K)), Array.from(b.data), M, K, N));
      assertClose(addmm(c, a, b, alpha).data, prod.map((v, i) => c.data[i]! + alpha * v), `addmm ${M}x${K}x${N} alpha ${alpha}`, 1e-4, 1e-4);
    }
    assertGradcheck((x, y, z) => addmm(z, x, y, 0.5), [a, b, c], `addmm grad ${M}x${K}x${N}`, { maxProbesPerInput: 12 });
    // b stored [N, K] (a Linear weight's layout: LoRA's B), used as its transpose.
    const bt = randn([N, K], N + 3, true);
    const btT = Array.from({ length: K * N }, (_, i) => bt.data[(i % N) * K + Math.floor(i / N)]!);
    const prodT = [0, 1].flatMap((i) => matmul64(Array.from(a.data.subarray(i * M * K, (i + 1) * M * K)), btT, M, K, N));
    assertClose(addmm(c, a, bt, -0.75, { transposeB: true }).data, prodT.map((v, i) => c.data[i]! - 0.75 * v), `addmm ${M}x${K}x${N}^T`, 1e-4, 1e-4);
    assertGradcheck((x, y, z) => addmm(z, x, y, 0.5, { transposeB: true }), [a, bt, c], `addmm grad ${M}x${K}x${N}^T`, { maxProbesPerInput: 12 });
  }
  assert.throws(() => addmm(randn([3, 5], 1), randn([3, 4], 2), randn([4, 6], 3)), /c must be \[3, 6\]/);
  assert.throws(() => addmm(randn([3, 6], 1), randn([3, 4], 2), randn([4, 6], 3), 1, { transposeB: true }), /a's last dimension must be 6/);
});

test('native and ref agree on large, odd GEMMs', () => {
  const a = randn([131, 257], 31);
  const b = randn([257, 99], 32);
  assertBackendsAgree(() => matmul(a, b), 'matmul 131x257x99', 1e-4, 1e-4);
  const w = randn([70, 257], 33);
  assertBackendsAgree(() => linear(a, w), 'linear 131x257 -> 70', 1e-4, 1e-4);
});

test('a frozen weight gets no gradient, but the input still does', () => {
  const x = randn([4, 6], 41, true);
  const w = randn([3, 6], 42); // frozen
  const y = linear(x, w);
  y.backward(randn([4, 3], 43));
  assert.equal(w.grad, null);
  assert.ok(x.grad);
  assertClose(x.grad!.data, matmul64(randn([4, 3], 43).data, w.data, 4, 3, 6), 'dx = dy W');
});

test('shape errors name both shapes', () => {
  assert.throws(() => matmul(randn([2, 3], 1), randn([4, 5], 2)), /matmul\(\[2, 3\], \[4, 5\]\).*inner dimensions differ \(3 vs 4\)/);
  assert.throws(() => matmul(randn([2, 2, 3], 1), randn([3, 3, 4], 2)), /\[2, 2, 3\].*\[3, 3, 4\].*batch dimensions/);
  assert.throws(() => linear(randn([2, 3], 1), randn([4, 5], 2)), /linear\(x \[2, 3\], weight \[4, 5\]\).*last dimension must be 5/);
});

// The native strided kernels (broadcasting arithmetic, strided copies, sums over dimensions, RoPE) against the reference
// kernels on shapes large and odd enough to be split across threads, in place, with NaN, and with
// strides that would read past an array (refused by the addon, never read).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BinaryOp } from '../../src/backend/backend.js';
import { getNumThreads, nativeAddon, refBackend, setNumThreads, withBackend, getBackend } from '../../src/backend/index.js';
import { broadcastStrides } from '../../src/ops/broadcast.js';
import { Random } from '../../src/tensor/random.js';
import { broadcastShapes, stridesOf } from '../../src/tensor/shape.js';
import { assertClose } from '../helpers.js';

const addon = nativeAddon();
const skip = addon ? false : 'the native addon is not built on this machine';

function rand(n: number, seed: number): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => r.normal() + 0.1);
}
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function withThreads<T>(n: number, fn: () => T): T {
  const before = getNumThreads();
  setNumThreads(n);
  try {
    return fn();
  } finally {
    setNumThreads(before);
  }
}

test('binary: every op and broadcast pattern equals the reference kernel, 1 and 4 threads', { skip }, () => {
  const pairs: [number[], number[]][] = [
    [[37, 5, 1031], [37, 5, 1031]], [[37, 5, 1031], [1031]], [[37, 5, 1031], [5, 1]], [[37, 1, 1031], [1, 5, 1]],
    [[1031], [37, 5, 1]], [[70001], [1]], [[1], [70001]], [[], []], [[0, 3], [3]],
  ];
  for (const [sa, sb] of pairs) {
    const shape = broadcastShapes(sa, sb, 'test');
    const a = rand(size(sa), 1);
    const b = rand(size(sb), 2);
    for (const op of [BinaryOp.Add, BinaryOp.Sub, BinaryOp.Mul, BinaryOp.Div]) {
      const expect = new Float32Array(size(shape));
      refBackend.binary(op, shape, a, broadcastStrides(sa, shape), b, broadcastStrides(sb, shape), expect);
      for (const threads of [1, 4]) {
        const got = new Float32Array(size(shape)).fill(NaN);
        withThreads(threads, () => withBackend('native', () => getBackend().binary(op, shape, a, broadcastStrides(sa, shape), b, broadcastStrides(sb, shape), got)));
        assertClose(got, expect, `op ${op} ${JSON.stringify(sa)} ${JSON.stringify(sb)} threads ${threads}`, 0, 0);
      }
    }
  }
});

test('binary in place (out is a) and NaN / infinity propagate as IEEE arithmetic says', { skip }, () => {
  const shape = [300, 257];
  const st = stridesOf(shape);
  const a = rand(size(shape), 3);
  a[5] = NaN;
  a[70000] = Infinity;
  const b = rand(size(shape), 4);
  const expect = a.map((x, i) => x + b[i]!);
  withBackend('native', () => getBackend().binary(BinaryOp.Add, shape, a, st, b, st, a));
  assert.deepEqual(Array.from(a), Array.from(expect));
  assert.ok(Number.isNaN(a[5]!) && a[70000] === Infinity);
});

test('copyStrided: the head split and merge permutes and a broadcast equal the reference kernel', { skip }, () => {
  const cases: [number[], number[]][] = [[[3, 257, 9, 64], [0, 2, 1, 3]], [[3, 9, 257, 64], [0, 2, 1, 3]], [[5, 7, 11], [2, 0, 1]], [[4099, 3], [1, 0]]];
  for (const [shape, perm] of cases) {
    const src = rand(size(shape), 5);
    const inStrides = stridesOf(shape);
    const outShape = perm.map((d) => shape[d]!);
    const strides = perm.map((d) => inStrides[d]!);
    const expect = new Float32Array(src.length);
    refBackend.copyStrided(outShape, src, strides, expect);
    const got = new Float32Array(src.length);
    withThreads(4, () => withBackend('native', () => getBackend().copyStrided(outShape, src, strides, got)));
    assertClose(got, expect, `permute ${JSON.stringify(shape)} by ${JSON.stringify(perm)}`, 0, 0);
  }
  const row = rand(1031, 6);
  const wide = new Float32Array(17 * 1031);
  withBackend('native', () => getBackend().copyStrided([17, 1031], row, [0, 1], wide));
  for (let r = 0; r < 17; r++) assertClose(wide.subarray(r * 1031, (r + 1) * 1031), row, `broadcast row ${r}`, 0, 0);
});

test('copyBlocks: contiguous runs (threaded), strided blocks and an overlapping copy inside one buffer equal the reference kernel', { skip }, () => {
  const src = rand(300_007, 8);
  // [srcOffset, srcStride, dstOffset, dstStride, blocks, blockLength, dst length]
  const cases: [number, number, number, number, number, number, number][] = [
    [0, 0, 0, 0, 1, 300_007, 300_007], // a clone (not a multiple of the 4096-float rows)
    [13, 0, 5, 0, 1, 200_001, 250_000], // one run between offsets
    [7, 70_000, 3, 70_000, 4, 70_000, 290_000], // back-to-back blocks: one contiguous run
    [1, 1031, 2, 1000, 250, 999, 252_000], // strided blocks
    [0, 0, 0, 0, 1, 100, 100], // small
  ];
  for (const [so, ss, doff, ds, blocks, len, dstLength] of cases) {
    const expect = rand(dstLength, 9);
    const got = expect.slice();
    refBackend.copyBlocks(src, so, ss, expect, doff, ds, blocks, len);
    withThreads(4, () => withBackend('native', () => getBackend().copyBlocks(src, so, ss, got, doff, ds, blocks, len)));
    assertClose(got, expect, `copyBlocks ${JSON.stringify([so, ss, doff, ds, blocks, len])}`, 0, 0);
  }
  // Inside one buffer, overlapping: must move as memmove does.
  const a = rand(200_000, 10);
  const b = a.slice();
  refBackend.copyBlocks(a, 0, 0, a, 1000, 0, 1, 150_000);
  withBackend('native', () => getBackend().copyBlocks(b, 0, 0, b, 1000, 0, 1, 150_000));
  assertClose(b, a, 'overlapping copyBlocks', 0, 0);
});

test('ropeRotate: forward and back equal the reference kernel, in place too; rotating back restores the input', { skip }, () => {
  const T = 37, D = 64, rows = 3 * 9 * T;
  const cos = new Float32Array(T * D / 2);
  const sin = new Float32Array(T * D / 2);
  for (let t = 0; t < T; t++) for (let i = 0; i < D / 2; i++) {
    const angle = t * 10000 ** (-2 * i / D);
    cos[t * D / 2 + i] = Math.cos(angle);
    sin[t * D / 2 + i] = Math.sin(angle);
  }
  const x = rand(rows * D, 7);
  for (const direction of [1, -1] as const) {
    const expect = new Float32Array(x.length);
    refBackend.ropeRotate(x, expect, cos, sin, rows, T, D, direction);
    const got = Float32Array.from(x);
    withThreads(4, () => withBackend('native', () => getBackend().ropeRotate(got, got, cos, sin, rows, T, D, direction)));
    assertClose(got, expect, `direction ${direction}`, 1e-6, 1e-6);
    withBackend('native', () => getBackend().ropeRotate(got, got, cos, sin, rows, T, D, direction === 1 ? -1 : 1));
    assertClose(got, x, `round trip ${direction}`, 1e-5, 1e-5);
  }
});

test('sums over dimensions equal the reference bit for bit, split over threads or not', { skip }, () => {
  // A bias's gradient over rows, a mean over a sequence, a sum over the last dimension, to a scalar, a
  // scale that is no float32 (1/3), NaN and infinities, and output values no input reaches (zeroed).
  const cases: [number[], number[], number, number][] = [
    [[4096, 777], [0, 1], 777, 1], [[16, 300, 513], [513, 0, 1], 16 * 513, 1 / 300], [[64, 1000], [1, 0], 64, 1 / 3],
    [[100003], [0], 1, 2], [[3, 5, 7], [0, 7, 1], 40, 0.5], [[], [], 1, 3],
  ];
  for (const [shape, outStrides, outLength, scale] of cases) {
    const src = rand(size(shape), shape.length + outLength);
    if (src.length > 10) src.set([NaN, Infinity, -Infinity], 5);
    const expect = new Float32Array(outLength).fill(9);
    refBackend.reduceSum(shape, src, outStrides, expect, scale);
    for (const threads of [1, 4]) {
      const got = new Float32Array(outLength).fill(9);
      withThreads(threads, () => withBackend('native', () => getBackend().reduceSum(shape, src, outStrides, got, scale)));
      assert.deepEqual(got, expect, `[${shape}] -> strides [${outStrides}], ${threads} threads`);
    }
  }
  assert.throws(() => addon!.reduceSum([4, 5], new Float32Array(20), [0, 2], new Float32Array(5), 1), /out: array has 5 floats, the kernel needs 9|strided operand: array has 5 floats, the kernel needs 9/);
  assert.throws(() => addon!.reduceSum([4, 5], new Float32Array(19), [0, 1], new Float32Array(5), 1), /src: array has 19 floats, the kernel needs 20/);
});

test('strides or sizes that would reach past an array are refused before anything is read', { skip }, () => {
  const a = new Float32Array(10);
  const out = new Float32Array(12);
  assert.throws(() => addon!.binary(BinaryOp.Add, [3, 4], a, [4, 1], a, [4, 1], out), /floats, the kernel needs 12/);
  assert.throws(() => addon!.copyStrided([2, 5], a, [1, 3], out), /the kernel needs 14/);
  assert.throws(() => addon!.binary(BinaryOp.Add, [3, 4], out, [4, 1], out, [4, 1], a), /out: array has 10 floats/);
  assert.throws(() => addon!.ropeRotate(a, a, a, a, 3, 2, 4, 1), /src: array has 10 floats/);
  // An empty array has no data pointer at all: it is still checked against what the kernel needs.
  assert.throws(() => addon!.binary(BinaryOp.Add, [1, 3], new Float32Array(0), [3, 1], a, [0, 1], out), /array has 0 floats, the kernel needs 3/);
  // More dimensions than the addon takes run on the reference kernel instead.
  const shape = [1, 1, 1, 1, 1, 1, 1, 2, 3];
  const x = rand(6, 8);
  const y = new Float32Array(6);
  withBackend('native', () => getBackend().binary(BinaryOp.Mul, shape, x, stridesOf(shape), x, stridesOf(shape), y));
  assertClose(y, x.map((v) => v * v), 'rank 9', 0, 0);
});

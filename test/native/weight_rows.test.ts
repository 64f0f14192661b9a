// X W^T over a bf16 weight with bf16 products for up to 256 rows of X: computed as W X^T with W's
// rows read as stored (native/gemm/weight_rows.cpp) where the CPU has AVX-512 BF16. Checked against
// float64 math on the bf16-rounded operands within the float32 summation bound (K u sum|terms|,
// u = 2^-24), on the edges of its tiles: strips of 10 weight rows, slivers of 32 rows of X (16 or
// fewer: half the arithmetic), K slices (128 rows: 2048 a slice; 256 rows: 1024), W rows at odd offsets, padded
// leading dimensions whose padding must stay untouched, alpha and beta; the same bits on 1 and 3
// threads; a NaN in a weight row reaching exactly its column.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nativeAddon } from '../../src/backend/index.js';
import { Random } from '../../src/tensor/random.js';

const addon = nativeAddon();
const skip = !addon ? 'the native addon is not built on this machine'
  : addon.cpuInfo().features.includes('avx512bf16') ? false : 'this CPU has no AVX-512 BF16 (the path is not taken)';

const roundBits = (v: number) => {
  const u = new Uint32Array(Float32Array.of(v).buffer)[0]!;
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
};
const widen = (bits: number) => new Float32Array(Uint32Array.of(bits << 16).buffer)[0]!;

function normals(n: number, seed: number): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => r.normal());
}

interface Case { M: number; N: number; K: number; alpha: number; beta: number; lda: number; ldb: number; ldc: number }

/** A case's random operands: A and C0 in float32, W as bf16 bits; seeds seed, seed + 100, seed + 200. */
function operands(c: Case, seed: number): { A: Float32Array; W: Uint16Array; C0: Float32Array } {
  return { A: normals(c.M * c.lda, seed), W: Uint16Array.from(normals(c.N * c.ldb, seed + 100), roundBits), C0: normals(c.M * c.ldc, seed + 200) };
}

function run(c: Case, A: Float32Array, W: Uint16Array, C0: Float32Array): Float32Array {
  const C = Float32Array.from(C0);
  addon!.gemm({ transA: false, transB: true, M: c.M, N: c.N, K: c.K, alpha: c.alpha, A, lda: c.lda, B: W, ldb: c.ldb, beta: c.beta, C, ldc: c.ldc, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
  return C;
}

const cases: Case[] = [
  // 4 slivers of 32, K 4100 in three slices, N 45 = 4 strips of 10 and one of 5; rows of W at odd offsets (ldb odd).
  { M: 128, N: 45, K: 4100, alpha: 1, beta: 0, lda: 4103, ldb: 4101, ldc: 47 },
  // 168 rows: 5 full slivers and one of 8 (half the arithmetic); alpha and beta 1.
  { M: 168, N: 31, K: 600, alpha: 0.5, beta: 1, lda: 600, ldb: 600, ldc: 31 },
  // 33 rows: a full sliver and one of 1; 17 rows: one sliver whose second vector holds a single row.
  { M: 33, N: 29, K: 2050, alpha: 1, beta: 0, lda: 2050, ldb: 2052, ldc: 30 },
  { M: 17, N: 14, K: 4600, alpha: 2, beta: 1, lda: 4600, ldb: 4600, ldc: 14 },
  // 256 rows, the most it takes: 8 slivers, K 2100 in three slices of 700.
  { M: 256, N: 20, K: 2100, alpha: 1, beta: 1, lda: 2100, ldb: 2101, ldc: 21 },
  // 5 rows (the smallest past decoding's dot products): one half sliver.
  { M: 5, N: 300, K: 700, alpha: 1, beta: 0, lda: 700, ldb: 700, ldc: 303 },
];

test('bf16 products over a bf16 W^T for up to 256 rows: float64 math on the rounded operands, within the summation bound, padding untouched', { skip }, () => {
  assert.equal(addon!.setBf16Compute(true), true);
  try {
    for (const [i, c] of cases.entries()) {
      const { A, W, C0 } = operands(c, 100 + i);
      const C = run(c, A, W, C0);
      const label = `${c.M}x${c.N}x${c.K} alpha ${c.alpha} beta ${c.beta}`;
      const a = Float64Array.from(A, (v) => widen(roundBits(v)));
      const w = Float64Array.from(W, widen);
      for (let m = 0; m < c.M; m++) {
        for (let n = 0; n < c.ldc; n++) {
          const got = C[m * c.ldc + n]!;
          if (n >= c.N) {
            assert.ok(Object.is(got, C0[m * c.ldc + n]), `${label}: padding (${m}, ${n}) was written`);
            continue;
          }
          let sum = 0;
          let magnitude = 0;
          for (let k = 0; k < c.K; k++) {
            const term = a[m * c.lda + k]! * w[n * c.ldb + k]!;
            sum += term;
            magnitude += Math.abs(term);
          }
          const expect = c.alpha * sum + c.beta * C0[m * c.ldc + n]!;
          const bound = (c.K + 2) * 2 ** -24 * (Math.abs(c.alpha) * magnitude + Math.abs(c.beta * C0[m * c.ldc + n]!)) + 1e-30;
          assert.ok(Math.abs(got - expect) <= bound, `${label}: (${m}, ${n}) is ${got}, expected ${expect} within ${bound}`);
        }
      }
      // The activations were rounded to bf16: float32 activations give a different product somewhere.
      let differs = false;
      for (let n = 0; n < c.N && !differs; n++) {
        let s = 0;
        for (let k = 0; k < c.K; k++) s += A[k]! * w[n * c.ldb + k]!;
        differs = Math.abs(c.alpha * s + c.beta * C0[n]! - C[n]!) > 1e-3;
      }
      assert.ok(differs, `${label}: the bf16 products ran`);
    }
  } finally {
    addon!.setBf16Compute(false);
  }
});

test('the same bits on one thread and three', { skip }, () => {
  const threads = addon!.getThreads();
  assert.equal(addon!.setBf16Compute(true), true);
  try {
    for (const [i, c] of cases.entries()) {
      const { A, W, C0 } = operands(c, 400 + i);
      addon!.setThreads(1);
      const one = run(c, A, W, C0);
      addon!.setThreads(3);
      assert.deepEqual(run(c, A, W, C0), one, `${c.M}x${c.N}x${c.K}`);
    }
  } finally {
    addon!.setThreads(threads);
    addon!.setBf16Compute(false);
  }
});

test('a NaN in a weight row reaches exactly its column; an infinite activation its row', { skip }, () => {
  assert.equal(addon!.setBf16Compute(true), true);
  try {
    const M = 40, N = 30, K = 1000;
    const A = normals(M * K, 7);
    const W = Uint16Array.from(normals(N * K, 8), roundBits);
    W[17 * K + 333] = 0x7fc0; // NaN
    A[21 * K + 5] = Infinity;
    const C = new Float32Array(M * N);
    addon!.gemm({ transA: false, transB: true, M, N, K, alpha: 1, A, lda: K, B: W, ldb: K, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      const v = C[m * N + n]!;
      if (n === 17) assert.ok(Number.isNaN(v), `(${m}, ${n}) = ${v}`);
      else if (m === 21) assert.ok(!Number.isFinite(v), `(${m}, ${n}) = ${v}`);
      else assert.ok(Number.isFinite(v), `(${m}, ${n}) = ${v}`);
    }
  } finally {
    addon!.setBf16Compute(false);
  }
});

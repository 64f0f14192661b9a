// Products with int8 activations (setInt8Activations, gift generate --int8-activations): each
// activation row rounded to Q8_0 blocks, integer dot products with the weight's codes, as llama.cpp's
// CPU inference computes them. Checked on the native and ref backends against float64 math on the
// two dequantized operands (x's Q8_0 values times W's values: the same sum, taken value by value
// rather than block by block), for Q4_0, per-channel int8 and Q8_0 weights, an odd number of blocks
// (the kernel's single last block), decoding's 1 and 4 rows and a prefill's 5, 13 and 37 (the
// many-rows kernel's tiles of 8, 4 and 1 rows, and W rows not a multiple of its strips of 16); and what
// it must leave alone: a NaN row (the float product, in that row only), int8 groups of 64, float16 weights.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nativeAddon, refBackend, type Backend } from '../../src/backend/index.js';
import { QuantizedMatrix, quantizeReference } from '../../src/formats/quantized.js';
import { float32ToFloat16 } from '../../src/formats/dtype.js';
import { Random } from '../../src/tensor/random.js';
import { assertClose } from '../helpers.js';
import { matmul64, transpose64 } from '../reference64.js';

const addon = nativeAddon();

function rand(n: number, seed: number, scale = 1): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => scale * r.normal());
}

type Gemm = (A: Float32Array, q: QuantizedMatrix, M: number) => Float32Array;
const gemmOn = (gemm: Backend<Float32Array>['gemm']): Gemm => (A, q, M) => {
  const C = new Float32Array(M * q.rows).fill(NaN);
  gemm({ transA: false, transB: true, M, N: q.rows, K: q.cols, alpha: 1, A, lda: q.cols, B: q, ldb: 0, beta: 0, C, ldc: q.rows, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
  return C;
};

const backends: [string, Gemm, (on: boolean) => boolean, boolean | string][] = [
  ['ref', gemmOn(refBackend.gemm), (on) => refBackend.setInt8Activations!(on), false],
  ['native', addon ? gemmOn((a) => addon.gemm(a)) : () => new Float32Array(), (on) => addon!.setInt8Activations(on), addon ? false : 'the native addon is not built on this machine'],
];

const weights: [string, (v: Float32Array, rows: number, cols: number) => QuantizedMatrix][] = [
  ['int4 (Q4_0)', (v, r, c) => quantizeReference(v, r, c, 'int4', 'W')],
  ['int8 per output channel', (v, r, c) => quantizeReference(v, r, c, 'int8', 'W')],
  ['int8 in groups of 32 (Q8_0)', (v, r, c) => quantizeReference(v, r, c, 'int8', 'W', 32)],
];

/** x's Q8_0 values (the reference quantizer, blocks of 32) times W's values, in float64. */
function expected(A: Float32Array, q: QuantizedMatrix, M: number): number[] {
  const xs = quantizeReference(A, M, q.cols, 'int8', 'activations', 32).dequantize();
  return matmul64(xs, transpose64(q.dequantize(), q.rows, q.cols), M, q.cols, q.rows);
}

for (const [name, gemm, setInt8, skip] of backends) {
  test(`${name}: int8 activations give float64 math on the Q8_0 activations and the weight's values`, { skip }, () => {
    // Native: each kernel this CPU runs; under "portable" the dot products take their portable loops.
    const kernels = name === 'native' ? addon!.cpuInfo().gemmKernels : ['ref'];
    try {
      assert.equal(setInt8(true), true);
      for (const kernel of kernels) {
        if (name === 'native') addon!.setGemmKernel(kernel);
        for (const [format, make] of weights) {
          for (const [rows, cols] of [[37, 64], [5, 96], [7, 608], [300, 2048]] as const) { // 96: three blocks, the last alone; 608: 16 + 2 + 1
            const q = make(rand(rows * cols, rows + cols, 0.05), rows, cols);
            for (const M of [1, 4, 5, 13, 37]) {
              const A = rand(M * cols, M + cols);
              assertClose(gemm(A, q, M), expected(A, q, M), `${kernel} ${format} W[${rows},${cols}] M=${M}`, 1e-5, 1e-5);
            }
          }
        }
      }
    } finally {
      setInt8(false);
      if (name === 'native') addon!.setGemmKernel(null);
    }
  });

  test(`${name}: int8 activations stay near the float product, and leave alone what they do not cover`, { skip }, () => {
    const rows = 64, cols = 256;
    const q = quantizeReference(rand(rows * cols, 1, 0.05), rows, cols, 'int4', 'W');
    const exactOf = (A: Float32Array, M: number) => matmul64(A, transpose64(q.dequantize(), rows, cols), M, cols, rows);
    const A1 = rand(cols, 2);
    const A5 = rand(5 * cols, 3);
    const floatProduct = gemm(A1, q, 1);
    const float5 = gemm(A5, q, 5);
    try {
      setInt8(true);
      const approx = gemm(A1, q, 1);
      const exact = exactOf(A1, 1);
      // Rounding x to 8 bits per block moves each output by well under 1% of its terms' size.
      const scale = Math.max(...exact.map(Math.abs));
      let worst = 0;
      approx.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - exact[j]!) / scale)));
      assert.ok(worst > 0 && worst < 0.01, `relative change ${worst}`);
      assert.notDeepEqual(approx, floatProduct, 'the switch changed nothing');
      // A NaN in a row comes out as NaN in that row only, decoding's rows or a prefill's; the other
      // rows take int8 activations still.
      for (const M of [2, 5]) {
        const nanRows = Float32Array.from(A5.subarray(0, M * cols));
        nanRows[cols + 7] = NaN;
        const out = gemm(nanRows, q, M);
        assert.ok(out.subarray(rows, 2 * rows).every(Number.isNaN), `the NaN row of ${M}`);
        for (const r of [0, ...(M > 2 ? [2, 3, 4] : [])]) {
          // (the same sums, in another order where the many-rows kernel takes them)
          assertClose(out.subarray(r * rows, (r + 1) * rows), gemm(A5.subarray(r * cols, (r + 1) * cols), q, 1), `row ${r} of ${M}, as alone`, 1e-5, 1e-5);
        }
      }
      assert.notDeepEqual(gemm(A5, q, 5), float5, 'five rows (a prefill) take int8 activations too');
      // Decoding's one row reads 4-bit W two rows at a time (native): each output the same bits as
      // when two activation rows take the product row by row. W of 300 rows splits into ranges of
      // odd length, whose last row is read alone.
      const tall = quantizeReference(rand(300 * cols, 5, 0.05), 300, cols, 'int4', 'W');
      const twice = Float32Array.from([...A1, ...A1]);
      assert.deepEqual(gemm(A1, tall, 1), gemm(twice, tall, 2).subarray(0, 300));
      // int8 in groups of 64 is neither Q8_0 nor per row: the float product.
      const by64 = quantizeReference(rand(rows * cols, 4, 0.05), rows, cols, 'int8', 'W', 64);
      setInt8(false);
      const by64Float = gemm(A1, by64, 1);
      setInt8(true);
      assert.deepEqual(gemm(A1, by64, 1), by64Float);
      // float16 weights have no codes: the float product.
      const halves = QuantizedMatrix.ofFloat16(rows, cols, float32ToFloat16(q.dequantize()));
      setInt8(false);
      const f16Exact = gemm(A1, halves, 1);
      setInt8(true);
      assert.deepEqual(gemm(A1, halves, 1), f16Exact);
    } finally {
      setInt8(false);
    }
    assert.deepEqual(gemm(A1, q, 1), floatProduct, 'turned off, the float product again');
  });
}

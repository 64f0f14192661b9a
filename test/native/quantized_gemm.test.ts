// The native GEMM with a quantized B (--quantize): every micro-kernel this CPU can run, both
// products a frozen layer needs (y = x W^T: B transposed; dX = dY W: not), shapes that straddle the
// K/M/N cache blocks and the few-rows path, against float64 math on the dequantized values. A
// float16 checkpoint's matrix rides the same path (halves as stored, widened while packing), its
// halves also at an odd byte offset (a safetensors tensor may start at one).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nativeAddon } from '../../src/backend/index.js';
import { QuantizedMatrix, quantizeReference, type MatrixFormat } from '../../src/formats/quantized.js';
import { float32ToFloat16 } from '../../src/formats/dtype.js';
import { Random } from '../../src/tensor/random.js';
import { assertClose } from '../helpers.js';
import { matmul64, transpose64 } from '../reference64.js';

const addon = nativeAddon();
const skip = addon ? false : 'the native addon is not built on this machine';

function rand(n: number, seed: number, scale = 1): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => scale * r.normal());
}

/**
 * The matrix in a format; 'int8 in groups of 32' is a GGUF's Q8_0 matrix as giftjs holds it; 'float16
 * at an odd offset' puts its halves one byte into their buffer.
 */
function matrixOf(format: MatrixFormat | 'int8 in groups of 32' | 'float16 at an odd offset', values: Float32Array, rows: number, cols: number): QuantizedMatrix {
  if (format === 'int8' || format === 'int4') return quantizeReference(values, rows, cols, format, 'W');
  if (format === 'int8 in groups of 32') return quantizeReference(values, rows, cols, 'int8', 'W', 32);
  const halves = float32ToFloat16(values);
  if (format === 'float16') return QuantizedMatrix.ofFloat16(rows, cols, halves);
  const shifted = new Uint8Array(halves.byteLength + 1);
  shifted.set(new Uint8Array(halves.buffer), 1);
  return new QuantizedMatrix('float16', rows, cols, shifted.subarray(1), new Uint16Array(0));
}

test('a quantized B gives float64 math on its dequantized values, for every kernel, both products and edge shapes', { skip }, () => {
  const kernels = addon!.cpuInfo().gemmKernels;
  // W [rows, cols]. 1300 columns: three K slices of the forward (KC 576) and a short last int4 block;
  // 3100 rows: two column panels of the forward (NC 3072). M 1-4 takes the few-rows path, 11 (transB) four rows at a time, 170 two row blocks.
  const weights: [number, number][] = [[33, 45], [3100, 40], [70, 1300], [96, 576]]; // 576: whole Q4_0 blocks (the decoding fast path)
  try {
    for (const kernel of kernels) {
      addon!.setGemmKernel(kernel);
      for (const format of ['int8', 'int8 in groups of 32', 'int4', 'float16', 'float16 at an odd offset'] as const) {
        for (const [rows, cols] of weights) {
          const q = matrixOf(format, rand(rows * cols, rows + cols, 0.05), rows, cols);
          const W = q.dequantize();
          for (const transB of [true, false]) {
            for (const M of [1, 4, 11, 170]) {
              const N = transB ? rows : cols;
              const K = transB ? cols : rows;
              const A = rand(M * K, M + K + 7);
              const C0 = rand(M * N, 3);
              for (const [alpha, beta] of [[1, 0], [0.5, 1]] as const) {
                const C = beta === 0 ? new Float32Array(M * N).fill(NaN) : Float32Array.from(C0);
                addon!.gemm({ transA: false, transB, M, N, K, alpha, A, lda: K, B: q, ldb: 0, beta, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
                const product = matmul64(A, transB ? transpose64(W, rows, cols) : W, M, K, N);
                const expected = product.map((v, i) => alpha * v + beta * C0[i]!);
                assertClose(C, expected, `${kernel} ${format} W[${rows},${cols}] transB=${transB} M=${M} alpha=${alpha} beta=${beta}`, 2e-4, 1e-4);
              }
            }
          }
        }
      }
    }
  } finally {
    addon!.setGemmKernel(null);
  }
});

const bf16Skip = skip || (addon!.cpuInfo().features.includes('avx512bf16') ? false : 'this CPU has no AVX-512 BF16 (the bf16 products)');

test('with bf16 products, a quantized B is rounded to bf16 as the float32 matrix of its dequantized values is: the same bits where K is one slice, the same sums to rounding where it is several', { skip: bf16Skip }, () => {
  // Whole groups of 32 take the direct quantized-to-bf16 packer (both products); 45 columns and
  // 1300 = 40 groups + 20 do not (the dequantize-then-pack path). 2100 rows: K of the backward in
  // four slices, each starting on a group; 640 columns: one slice of the forward.
  const weights: [number, number][] = [[33, 45], [70, 1300], [2100, 640], [96, 576]];
  try {
    assert.ok(addon!.setBf16Compute(true), 'bf16 products on');
    for (const format of ['int8', 'int8 in groups of 32', 'int4'] as const) {
      for (const [rows, cols] of weights) {
        const q = matrixOf(format, rand(rows * cols, rows + cols, 0.05), rows, cols);
        const W = q.dequantize();
        for (const transB of [true, false]) {
          const M = 170, N = transB ? rows : cols, K = transB ? cols : rows;
          const A = rand(M * K, M + K + 7);
          const run = (B: QuantizedMatrix | Float32Array) => {
            const C = new Float32Array(M * N).fill(NaN);
            addon!.gemm({ transA: false, transB, M, N, K, alpha: 1, A, lda: K, B, ldb: transB ? K : N, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
            return C;
          };
          const quantized = run(q), dequantized = run(W);
          const what = `${format} W[${rows},${cols}] transB=${transB}`;
          if (K <= 640) assert.deepEqual(quantized, dequantized, `${what}: one slice, the same bits`);
          else assertClose(quantized, dequantized, what, 1e-5, 1e-5);
        }
      }
    }
  } finally {
    addon!.setBf16Compute(false);
  }
});

test('a quantized W^T at 128 rows with C over 2 MB (each sliver through every K slice): float64 math on its dequantized values, the same bits on 1 and 3 threads', { skip }, () => {
  // W [4300, 1300]: C 128 x 4300 floats is 2.2 MB, K 1300 three slices of whole groups of 32.
  const M = 128, rows = 4300, cols = 1300;
  const A = rand(M * cols, 41);
  const threads = addon!.getThreads();
  try {
    for (const format of ['int4', 'int8', 'int8 in groups of 32'] as const) {
      const q = matrixOf(format, rand(rows * cols, 42, 0.05), rows, cols);
      const product = (n: number) => {
        addon!.setThreads(n);
        const C = new Float32Array(M * rows).fill(NaN);
        addon!.gemm({ transA: false, transB: true, M, N: rows, K: cols, alpha: 1, A, lda: cols, B: q, ldb: 0, beta: 0, C, ldc: rows, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
        return C;
      };
      const many = product(3);
      assert.deepEqual(product(1), many, `${format}: one thread`);
      assertClose(many, matmul64(A, transpose64(q.dequantize(), rows, cols), M, cols, rows), format, 2e-4, 1e-4);
    }
  } finally {
    addon!.setThreads(threads);
  }
});

test('decoding one row against Q4_0, Q8_0, int8 per channel or float16 rows (four at a time) gives each output the bits of that row read alone', { skip }, () => {
  // 67 rows (quads a quarter apart and three left over); 1056
  // columns (33 blocks: two runs of 16 blocks and a single last one; Q4_0: eight groups of four blocks
  // and a short one), 1040 for float16 and int8 per channel (a last 16 values after the runs of 32).
  // Each row alone is a matrix of its own: the one-row kernel.
  const rows = 67;
  for (const format of ['int4', 'int8 in groups of 32', 'int8', 'float16'] as const) {
    const cols = format === 'float16' || format === 'int8' ? 1040 : 1056;
    const values = rand(rows * cols, 11, 0.05);
    const halves = float32ToFloat16(values);
    const blocks = format === 'int4' || format === 'int8 in groups of 32';
    const stored = format === 'int8 in groups of 32' ? 'int8' : format;
    const group = blocks ? 32 : cols;
    const q = stored === 'float16' ? QuantizedMatrix.ofFloat16(rows, cols, halves) : quantizeReference(values, rows, cols, stored, 'W', group);
    const rowOf = (r: number) =>
      stored === 'float16'
        ? QuantizedMatrix.ofFloat16(1, cols, halves.subarray(r * cols, (r + 1) * cols))
        : new QuantizedMatrix(stored, 1, cols, q.codes.subarray(r * q.rowBytes, (r + 1) * q.rowBytes), q.scales.subarray(r * q.groupsPerRow, (r + 1) * q.groupsPerRow), group);
    const A = rand(cols, 12);
    const product = (B: QuantizedMatrix, N: number) => {
      const C = new Float32Array(N).fill(NaN);
      addon!.gemm({ transA: false, transB: true, M: 1, N, K: cols, alpha: 1, A, lda: cols, B, ldb: 0, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
      return C;
    };
    const all = product(q, rows);
    assertClose(all, matmul64(A, transpose64(q.dequantize(), rows, cols), 1, cols, rows), `${format}: the product`, 2e-4, 1e-4);
    for (let r = 0; r < rows; r++) assert.equal(product(rowOf(r), 1)[0], all[r], `${format} row ${r}`);
  }
});

test('decoding one row against Q4_0 rows: each output within 1e-6 of the sum of its products\' magnitudes of float64 math, activations spanning four decades and infinities kept', { skip }, () => {
  // The decoding kernel sums x * n (n the code, 0-15) from an offset of -8 times the sum of x per
  // lane, not x * (n - 8): its error must stay that of float32 sums (the old kernel's was 2e-8 of
  // the magnitudes here, this one's up to 2.5e-7), not that of a large offset cancelled late.
  const rows = 37;
  for (const cols of [96, 1056, 8192]) {
    const r = new Random(cols);
    const values = rand(rows * cols, 21, 0.05);
    const q = quantizeReference(values, rows, cols, 'int4', 'W', 32);
    const W = q.dequantize();
    const A = Float32Array.from({ length: cols }, () => r.normal() * 10 ** Math.floor(4 * r.uniform() - 2));
    const C = new Float32Array(rows).fill(NaN);
    addon!.gemm({ transA: false, transB: true, M: 1, N: rows, K: cols, alpha: 1, A, lda: cols, B: q, ldb: 0, beta: 0, C, ldc: rows, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
    for (let j = 0; j < rows; j++) {
      let exact = 0, magnitude = 0;
      for (let c = 0; c < cols; c++) {
        exact += A[c] * W[j * cols + c];
        magnitude += Math.abs(A[c] * W[j * cols + c]);
      }
      assert.ok(Math.abs(C[j] - exact) <= 1e-6 * magnitude, `cols ${cols} row ${j}: ${C[j]} against ${exact} (magnitudes ${magnitude})`);
    }
    // An infinite activation makes every output non-finite (its products are infinite, or NaN where
    // a code is 8: 0 * inf), never a finite number.
    const withInf = A.slice();
    withInf[cols - 5] = Infinity;
    addon!.gemm({ transA: false, transB: true, M: 1, N: rows, K: cols, alpha: 1, A: withInf, lda: cols, B: q, ldb: 0, beta: 0, C, ldc: rows, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
    for (let j = 0; j < rows; j++) assert.ok(!Number.isFinite(C[j]), `cols ${cols} row ${j}: ${C[j]} with an infinite activation`);
  }
});

test('Q4_0 float products of 2 to 33 rows of A: float64 math on the dequantized values (whole and short last groups of four blocks), rows 2-4 the bits each has alone, a NaN kept to its row', { skip }, () => {
  // 32 to 160 columns: 1-5 blocks, so the last group of four blocks holds 1, 2, 3 or 4 of them; 1056 as above.
  // 2-4 rows of A take the one-row kernel row by row; 5-32 (a short prompt) four by four against four W
  // rows (13: three runs of four and one left over), A's rows four at a time and the rest; 33 through packing.
  for (const cols of [32, 64, 96, 128, 160, 1056]) {
    const rows = 13;
    const q = quantizeReference(rand(rows * cols, cols, 0.05), rows, cols, 'int4', 'W');
    const W = transpose64(q.dequantize(), rows, cols);
    const A = rand(33 * cols, cols + 1);
    const product = (a: Float32Array, M: number) => {
      const C = new Float32Array(M * rows).fill(NaN);
      addon!.gemm({ transA: false, transB: true, M, N: rows, K: cols, alpha: 1, A: a, lda: cols, B: q, ldb: 0, beta: 0, C, ldc: rows, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
      return C;
    };
    for (const M of [2, 3, 4, 5, 7, 16, 17, 31, 32, 33]) {
      const many = product(A.subarray(0, M * cols), M);
      assertClose(many, matmul64(A.subarray(0, M * cols), W, M, cols, rows), `cols ${cols} M=${M}`, 2e-4, 1e-4);
      if (M > 4) continue;
      for (let i = 0; i < M; i++) assert.deepEqual(product(A.subarray(i * cols, (i + 1) * cols), 1), many.subarray(i * rows, (i + 1) * rows), `cols ${cols} M=${M} row ${i}`);
    }
    for (const M of [3, 11, 30]) {
      const withNaN = Float32Array.from(A.subarray(0, M * cols));
      withNaN[cols + (cols >> 1)] = NaN;  // row 1
      const C = product(withNaN, M);
      for (let j = 0; j < M * rows; j++) assert.equal(Number.isNaN(C[j]!), j >= rows && j < 2 * rows, `cols ${cols} M=${M}: NaN only in row 1 (output ${j})`);
    }
  }
});

test('a short prompt (5-32 rows of A) against int8 per channel, Q8_0 or float16 rows: up to 16 rows the bits of the same product over the float32 matrix of their dequantized values, up to 33 float64 math', { skip }, () => {
  // These formats' values are made in registers as the rows are read (QuantizedRowValues), which must
  // change nothing: a code times its d, or a half widened, is exact, and the sums run as the float32
  // rows' do (which take this path up to 16 rows, packing past them). 45 columns: one step of 32 and
  // a tail of 13; 1300: forty blocks, a step of 16 and a tail of 4 (Q8_0: a short last block); 2048
  // whole steps. 13 W rows: three runs of four and one left over. 33 rows of A: through packing.
  const rows = 13;
  for (const format of ['int8', 'int8 in groups of 32', 'float16', 'float16 at an odd offset'] as const) {
    for (const cols of [45, 1300, 2048]) {
      const q = matrixOf(format, rand(rows * cols, cols + 3, 0.05), rows, cols);
      const W = q.dequantize();
      const A = rand(33 * cols, cols + 5);
      A[7 * cols + 2] = NaN;  // row 7: a NaN stays in its row
      const product = (B: QuantizedMatrix | Float32Array, M: number) => {
        const C = new Float32Array(M * rows).fill(-1);
        addon!.gemm({ transA: false, transB: true, M, N: rows, K: cols, alpha: 1, A, lda: cols, B, ldb: cols, beta: 0, C, ldc: rows, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
        return C;
      };
      for (const M of [5, 7, 11, 16, 17, 32, 33]) {
        const quantized = product(q, M);
        if (M <= 16) assert.deepEqual(quantized, product(W, M), `${format} W[${rows},${cols}] M=${M}`);
        for (let j = 0; j < M * rows; j++) assert.equal(Number.isNaN(quantized[j]!), Math.floor(j / rows) === 7, `${format} cols ${cols} M=${M} output ${j}`);
        // Every row against float64 (row 7's NaNs against float64's own; assertClose takes NaN for NaN).
        assertClose(quantized, matmul64(A.subarray(0, M * cols), transpose64(W, rows, cols), M, cols, rows), `${format} cols ${cols} M=${M} against float64`, 2e-4, 1e-4);
      }
    }
  }
});

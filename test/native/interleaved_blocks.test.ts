// GGUF's Q8_0 / Q4_0 blocks held as the file stores them (QuantizedMatrix.ofGgufBlocks: each block's
// half d, then its codes, mapped in place instead of copied apart into codes and scales). Every
// product must read them as the same values as the split layout: each GEMM path -- the packed
// kernels (both products a frozen layer needs, float32 and bf16 products), the few-rows dot products
// of decoding, int8 activations for one row and for a prefill's many -- gives the same bits on both
// layouts, on the native backend (every kernel this CPU runs) and the ref one. The blocks are built
// here byte by byte from the split matrix as GGUF lays them out (d little-endian, then the codes).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nativeAddon, refBackend, type Backend } from '../../src/backend/index.js';
import { QuantizedMatrix, quantizeReference } from '../../src/formats/quantized.js';
import { Random } from '../../src/tensor/random.js';

const addon = nativeAddon();

function rand(n: number, seed: number, scale = 1): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => scale * r.normal());
}

/** q's blocks as a GGUF stores them, `at` bytes into a larger buffer. */
function asGgufBlocks(q: QuantizedMatrix, at: number): QuantizedMatrix {
  const codeBytes = q.format === 'int4' ? 16 : 32;
  const blocks = (q.rows * q.cols) / 32;
  const buffer = new Uint8Array(at + blocks * (2 + codeBytes) + 7).fill(0xa5);
  for (let b = 0; b < blocks; b++) {
    const to = at + b * (2 + codeBytes);
    buffer[to] = q.scales[b]! & 0xff;
    buffer[to + 1] = q.scales[b]! >> 8;
    buffer.set(q.codes.subarray(b * codeBytes, (b + 1) * codeBytes), to + 2);
  }
  return QuantizedMatrix.ofGgufBlocks(q.format as 'int8' | 'int4', q.rows, q.cols, buffer.subarray(at, at + blocks * (2 + codeBytes)));
}

const formats = [
  ['Q4_0', (v: Float32Array, r: number, c: number) => quantizeReference(v, r, c, 'int4', 'W')],
  ['Q8_0', (v: Float32Array, r: number, c: number) => quantizeReference(v, r, c, 'int8', 'W', 32)],
] as const;

// [rows, cols]: whole blocks only (GGUF's). 96 x 576 and 300 x 2048 take the decoding fast paths;
// 3100 rows two column panels of the forward; 2100 x 640 four K slices of the backward; 37 x 96 an odd
// number of blocks (the single last block of the VNNI loops) and rows not a multiple of 16.
const shapes: [number, number][] = [[37, 96], [96, 576], [300, 2048], [3100, 64], [2100, 640]];

test('interleaved blocks hold the same codes, scales and values as the split layout', () => {
  for (const [name, make] of formats) {
    const q = make(rand(37 * 96, 5, 0.05), 37, 96);
    const g = asGgufBlocks(q, 32);
    assert.equal(g.interleaved, true);
    assert.equal(g.bytes, q.bytes, `${name}: the same bytes in all`);
    for (let r = 0; r < q.rows; r++) {
      for (let c = 0; c < q.cols; c++) assert.equal(g.code(r, c), q.code(r, c), `${name} code [${r}, ${c}]`);
      for (let b = 0; b < q.groupsPerRow; b++) assert.equal(g.scaleBits(r, b), q.scaleBits(r, b), `${name} scale [${r}, ${b}]`);
    }
    assert.deepEqual(g.dequantize(), q.dequantize(), `${name}: the same values`);
  }
  assert.throws(() => QuantizedMatrix.ofGgufBlocks('int4', 2, 32, new Uint8Array(40).subarray(1, 37)), /even byte/);
  assert.throws(() => QuantizedMatrix.ofGgufBlocks('int4', 2, 32, new Uint8Array(34)), /do not fit int4 \[2, 32\] as interleaved blocks/);
});

type Switches = { kernel: string | null; bf16: boolean; int8: boolean };

function product(gemm: Backend<Float32Array>['gemm'], q: QuantizedMatrix, A: Float32Array, M: number, transB: boolean): Float32Array {
  const N = transB ? q.rows : q.cols;
  const K = transB ? q.cols : q.rows;
  const C = new Float32Array(M * N).fill(NaN);
  gemm({ transA: false, transB, M, N, K, alpha: 1, A, lda: K, B: q, ldb: 0, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
  return C;
}

function sameProducts(gemm: Backend<Float32Array>['gemm'], label: string, few = false): void {
  for (const [name, make] of formats) {
    for (const [rows, cols] of few ? shapes.slice(0, 2) : shapes) {
      const q = make(rand(rows * cols, rows + cols, 0.05), rows, cols);
      const g = asGgufBlocks(q, 64);
      for (const transB of [true, false]) {
        for (const M of few ? [1, 13] : [1, 2, 4, 13, 170]) {
          const A = rand(M * (transB ? cols : rows), M + rows, 1);
          const split = product(gemm, q, A, M, transB);
          const interleaved = product(gemm, g, A, M, transB);
          assert.ok(split.every(Number.isFinite), `${label} ${name} [${rows}, ${cols}] M=${M}: finite`);
          assert.deepEqual(interleaved, split, `${label} ${name} W[${rows}, ${cols}] transB=${transB} M=${M}`);
        }
      }
    }
  }
}

test('native: every product reads interleaved blocks as the same values as split ones (the same bits)', { skip: addon ? false : 'the native addon is not built on this machine' }, () => {
  const info = addon!.cpuInfo();
  const settings: Switches[] = [];
  for (const kernel of info.gemmKernels) {
    for (const bf16 of info.features.includes('avx512bf16') ? [false, true] : [false]) {
      for (const int8 of [false, true]) settings.push({ kernel, bf16, int8 });
    }
  }
  try {
    for (const s of settings) {
      addon!.setGemmKernel(s.kernel);
      const bf16 = addon!.setBf16Compute(s.bf16);
      if (s.bf16) assert.ok(bf16, 'bf16 products on');
      addon!.setInt8Activations(s.int8);
      sameProducts((a) => addon!.gemm(a), `${s.kernel}${s.bf16 ? ' bf16' : ''}${s.int8 ? ' int8-activations' : ''}`);
    }
  } finally {
    addon!.setGemmKernel(null);
    addon!.setBf16Compute(false);
    addon!.setInt8Activations(false);
  }
});

test('ref: every product reads interleaved blocks as the same values as split ones (the two smallest shapes)', () => {
  try {
    for (const int8 of [false, true]) {
      refBackend.setInt8Activations!(int8);
      sameProducts(refBackend.gemm, `ref${int8 ? ' int8-activations' : ''}`, true);
    }
  } finally {
    refBackend.setInt8Activations!(false);
  }
});

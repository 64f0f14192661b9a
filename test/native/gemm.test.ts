// The native GEMM on its own: every micro-kernel this CPU can run, against float64 math, over
// shapes that straddle tile edges and the K/M/N cache blocks; alpha, beta and batches.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GemmArgs } from '../../src/backend/backend.js';
import { nativeAddon } from '../../src/backend/index.js';
import { Random } from '../../src/tensor/random.js';
import { assertClose } from '../helpers.js';
import { matmul64, transpose64 } from '../reference64.js';

const addon = nativeAddon();
const skip = addon ? false : 'the native addon is not built on this machine';

function rand(n: number, seed: number): Float32Array {
  const r = new Random(seed);
  return Float32Array.from({ length: n }, () => r.normal());
}

test('every available kernel matches float64 math on edge-straddling shapes', { skip }, () => {
  const kernels = addon!.cpuInfo().gemmKernels;
  assert.ok(kernels.includes('portable'));
  // K 1300 spans three K slices (KC 576), M 170 two row blocks (MC 168), N 3100 two column panels (NC 3072).
  const shapes: [number, number, number][] = [[1, 1, 1], [15, 33, 17], [14, 32, 256], [29, 65, 257], [170, 100, 1300], [3, 3100, 5]];
  try {
    for (const kernel of kernels) {
      assert.equal(addon!.setGemmKernel(kernel), true);
      for (const [M, N, K] of shapes) for (const tA of [false, true]) for (const tB of [false, true]) {
        const A = rand(M * K, M + K);
        const B = rand(K * N, N + K + 1);
        const C = new Float32Array(M * N).fill(NaN); // beta = 0 must not read C
        addon!.gemm({ transA: tA, transB: tB, M, N, K, alpha: 1, A, lda: tA ? M : K, B, ldb: tB ? K : N, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
        const expect = matmul64(tA ? transpose64(A, K, M) : A, tB ? transpose64(B, N, K) : B, M, K, N);
        assertClose(C, expect, `${kernel} ${M}x${N}x${K} tA=${tA} tB=${tB}`, 2e-4, 1e-4);
      }
    }
  } finally {
    addon!.setGemmKernel(null);
  }
});

test('alpha, beta, leading dimensions and batches', { skip }, () => {
  const M = 19, N = 37, K = 23, lda = 30, ldc = 41, batch = 3;
  const A = rand(batch * M * lda, 1);
  const B = rand(batch * K * N, 2);
  const C0 = rand(batch * M * ldc, 3);
  const C = Float32Array.from(C0);
  addon!.gemm({ transA: false, transB: false, M, N, K, alpha: 0.5, A, lda, B, ldb: N, beta: 2, C, ldc, batch, strideA: M * lda, strideB: K * N, strideC: M * ldc });
  for (let b = 0; b < batch; b++) {
    const Ab = Array.from({ length: M * K }, (_, i) => A[b * M * lda + Math.floor(i / K) * lda + (i % K)]!);
    const prod = matmul64(Ab, B.subarray(b * K * N, (b + 1) * K * N), M, K, N);
    for (let i = 0; i < M; i++) for (let j = 0; j < ldc; j++) {
      const at = b * M * ldc + i * ldc + j;
      const expected = j < N ? 0.5 * prod[i * N + j]! + 2 * C0[at]! : C0[at]!; // outside N untouched
      assert.ok(Math.abs(C[at]! - expected) <= 1e-4 + 1e-4 * Math.abs(expected), `batch ${b} (${i},${j}): ${C[at]} vs ${expected}`);
    }
  }
});

test('one thread and many threads give the same product', { skip }, () => {
  // 200 rows: two row blocks (MC 168); 128 rows: one, whose B panels are packed a sliver at a time
  // (with K 700 in two slices on the threaded path, in one call on one thread).
  for (const [M, N, K] of [[200, 150, 300], [128, 300, 700], [128, 300, 200]] as const) {
    const A = rand(M * K, 5);
    const B = rand(K * N, 6);
    const threads = addon!.getThreads();
    const one = new Float32Array(M * N);
    const many = new Float32Array(M * N);
    try {
      addon!.setThreads(1);
      addon!.gemm({ transA: false, transB: false, M, N, K, alpha: 1, A, lda: K, B, ldb: N, beta: 0, C: one, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
      addon!.setThreads(3);
      addon!.gemm({ transA: false, transB: false, M, N, K, alpha: 1, A, lda: K, B, ldb: N, beta: 0, C: many, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
    } finally {
      addon!.setThreads(threads);
    }
    assert.deepEqual(many, one, `${M}x${N}x${K}`);
    const expect = matmul64(A, B, M, K, N);
    assertClose(one, expect, `${M}x${N}x${K}`, 2e-4, 1e-4);
  }
});

test('a too-short array is refused before anything is written', { skip }, () => {
  const C = new Float32Array(3);
  assert.throws(() => addon!.gemm({ transA: false, transB: false, M: 2, N: 2, K: 2, alpha: 1, A: new Float32Array(4), lda: 2, B: new Float32Array(4), ldb: 2, beta: 0, C, ldc: 2, batch: 1, strideA: 0, strideB: 0, strideC: 0 }), /gemm C: array has 3 floats, the kernel needs 4/);
});

test('offsets into A and B start the problem inside larger arrays (float32 and bfloat16 B); an offset past the end is refused, and so is a missing field', { skip }, () => {
  const M = 7, N = 9, K = 11, offsetA = 5, offsetB = 13;
  const A = rand(offsetA + M * K, 21);
  const B = rand(offsetB + K * N, 22);
  const C = new Float32Array(M * N).fill(NaN);
  addon!.gemm({ transA: false, transB: false, M, N, K, alpha: 1, A, offsetA, lda: K, B, offsetB, ldb: N, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
  assertClose(C, matmul64(A.subarray(offsetA), B.subarray(offsetB), M, K, N), 'offsets, float32 B', 1e-4, 1e-4);
  const bits = Uint16Array.from(B, (v) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16);
  const widened = Float32Array.from(bits, (h) => new Float32Array(Uint32Array.of(h << 16).buffer)[0]!);
  addon!.gemm({ transA: false, transB: false, M, N, K, alpha: 1, A, offsetA, lda: K, B: bits, offsetB, ldb: N, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
  assertClose(C, matmul64(A.subarray(offsetA), widened.subarray(offsetB), M, K, N), 'offsets, bfloat16 B', 1e-4, 1e-4);
  assert.throws(() => addon!.gemm({ transA: false, transB: false, M, N, K, alpha: 1, A, offsetA: A.length + 1, lda: K, B, ldb: N, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 }), /gemm A: array has 0 floats/);
  const missing = { transA: false, transB: false, M, N, K, alpha: 1, A, lda: K, B, ldb: N, beta: 0, C, batch: 1, strideA: 0, strideB: 0, strideC: 0 };
  assert.throws(() => addon!.gemm(missing as unknown as GemmArgs<Float32Array>), /A number was expected/);
});

test('up to 168 rows against a wide W^T over several K slices (the LM head and MLP of a batch-1 step) give the bits of narrower products, on one thread and many', { skip }, () => {
  // C 128 x 4300 floats (2.2 MB) takes each 32-column sliver through all K slices in turn; 1000 columns
  // at a time (C 0.5 MB) takes the slices one after another over all columns. The slices (K 700: two)
  // and the order their sums are added in are the same, so every value must be too: float32 and bf16
  // weights, bf16 products where the CPU has them, alpha and beta, 1 and 3 threads.
  const M = 128, N = 4300, K = 700, width = 1000;
  const A = rand(M * K, 31);
  const W = rand(N * K, 32);
  const bits = Uint16Array.from(W, (v) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16);
  const C0 = rand(M * N, 33);
  const bf16 = addon!.cpuInfo().features.includes('avx512bf16');
  const threads = addon!.getThreads();
  const product = (B: Float32Array | Uint16Array, n0: number, n: number, alpha: number, beta: number) => {
    const C = new Float32Array(M * n);
    for (let i = 0; i < M; i++) C.set(C0.subarray(i * N + n0, i * N + n0 + n), i * n);
    addon!.gemm({ transA: false, transB: true, M, N: n, K, alpha, A, lda: K, B, offsetB: n0 * K, ldb: K, beta, C, ldc: n, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
    return C;
  };
  try {
    for (const [B, bf16Products] of [[W, false], [bits, false], [bits, true]] as const) {
      if (bf16Products && !bf16) continue;
      addon!.setBf16Compute(bf16Products);
      for (const [alpha, beta] of [[1, 0], [0.5, 2]] as const) {
        const label = `${B instanceof Uint16Array ? 'bf16' : 'float32'} W${bf16Products ? ', bf16 products' : ''}, alpha ${alpha}, beta ${beta}`;
        addon!.setThreads(3);
        const wide = product(B, 0, N, alpha, beta);
        addon!.setThreads(1);
        assert.deepEqual(product(B, 0, N, alpha, beta), wide, `${label}: one thread`);
        const pieces = new Float32Array(M * N);
        for (let n0 = 0; n0 < N; n0 += width) {
          const n = Math.min(width, N - n0);
          const narrow = product(B, n0, n, alpha, beta);
          for (let i = 0; i < M; i++) pieces.set(narrow.subarray(i * n, (i + 1) * n), i * N + n0);
        }
        assert.deepEqual(pieces, wide, `${label}: ${width} columns at a time`);
        if (bf16Products || beta !== 0 || B instanceof Uint16Array) continue;
        assertClose(wide, matmul64(A, transpose64(B, N, K), M, K, N), label, 2e-4, 1e-4);
      }
    }
  } finally {
    addon!.setThreads(threads);
    addon!.setBf16Compute(false);
  }
});

test('a few rows against a weight (generation) take the dot-product path: float32 and bfloat16 weights', { skip }, () => {
  const K = 1000, N = 77;
  // A float32 weight takes up to 16 rows (a short prompt's prefill) four by four, and 17 through
  // packing; a bfloat16 weight up to 32, and 33 through packing.
  for (const M of [1, 3, 5, 11, 16, 17, 32, 33]) {
    const A = rand(M * K, 11);
    const W = rand(N * K, 12);
    const bits = new Uint16Array(N * K);
    const widened = new Float32Array(N * K);
    for (let i = 0; i < W.length; i++) {
      bits[i] = new Uint32Array(Float32Array.of(W[i]!).buffer)[0]! >>> 16; // truncate: exact in both
      widened[i] = new Float32Array(Uint32Array.of(bits[i]! << 16).buffer)[0]!;
    }
    const expect = matmul64(A, transpose64(W, N, K), M, K, N);
    const C = new Float32Array(M * N).fill(NaN);
    addon!.gemm({ transA: false, transB: true, M, N, K, alpha: 1, A, lda: K, B: W, ldb: K, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
    assertClose(C, expect, `M=${M} float32`, 1e-3, 1e-4);
    const Cb = new Float32Array(M * N).fill(NaN);
    addon!.gemm({ transA: false, transB: true, M, N, K, alpha: 1, A, lda: K, B: bits, ldb: K, beta: 0, C: Cb, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
    assertClose(Cb, matmul64(A, transpose64(widened, N, K), M, K, N), `M=${M} bfloat16`, 1e-3, 1e-4);
  }
  // Decoding's one float32 row reads a bf16 weight two rows at a time: each output the same bits as
  // when two activation rows take the product row by row (N 301 splits into ranges of odd length; K 301 has a tail).
  for (const [n, k] of [[301, 301], [64, 2048]] as [number, number][]) {
    const A = rand(k, n + k);
    const bits = Uint16Array.from(rand(n * k, n), (v) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16);
    const one = new Float32Array(n);
    const two = new Float32Array(2 * n);
    addon!.gemm({ transA: false, transB: true, M: 1, N: n, K: k, alpha: 1, A, lda: k, B: bits, ldb: k, beta: 0, C: one, ldc: n, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
    addon!.gemm({ transA: false, transB: true, M: 2, N: n, K: k, alpha: 1, A: Float32Array.from([...A, ...A]), lda: k, B: bits, ldb: k, beta: 0, C: two, ldc: n, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
    assert.deepEqual(one, two.subarray(0, n), `float32 row against bfloat16 rows, one row and two, N ${n} K ${k}`);
  }
  // And in a short prompt: every row of 2 to 32 the same bits as that row alone, whichever four-row block
  // and remainder it falls in (N 301: W's rows four at a time and a remainder of one).
  for (const M of [15, 31]) {
    const n = 301, k = 333;
    const A = rand(M * k, 21);
    const bits = Uint16Array.from(rand(n * k, 22), (v) => new Uint32Array(Float32Array.of(v).buffer)[0]! >>> 16);
    const all = new Float32Array(M * n);
    addon!.gemm({ transA: false, transB: true, M, N: n, K: k, alpha: 1, A, lda: k, B: bits, ldb: k, beta: 0, C: all, ldc: n, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
    for (const i of [0, 3, 4, 13, 14, M - 1]) {
      const one = new Float32Array(n);
      addon!.gemm({ transA: false, transB: true, M: 1, N: n, K: k, alpha: 1, A: A.subarray(i * k, (i + 1) * k), lda: k, B: bits, ldb: k, beta: 0, C: one, ldc: n, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
      assert.deepEqual(all.subarray(i * n, (i + 1) * n), one, `row ${i} of ${M} against bfloat16 rows, and alone`);
    }
  }
});

test('a bfloat16 B (a BF16 weight kept as stored) with float32 products: every kernel, both layouts, padded and edge shapes, against float64 math', { skip }, () => {
  const round = (v: number) => {
    const u = new Uint32Array(Float32Array.of(v).buffer)[0]!;
    return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  };
  const widen = (bits: number) => new Float32Array(Uint32Array.of(bits << 16).buffer)[0]!;
  try {
    for (const kernel of addon!.cpuInfo().gemmKernels) {
      addon!.setGemmKernel(kernel);
      for (const [M, N, K] of [[29, 65, 257], [40, 31, 9], [37, 70, 1301], [170, 3100, 40]] as [number, number, number][]) for (const tB of [false, true]) {
        const ldb = (tB ? K : N) + 5;
        const A = rand(M * K, M + 1);
        const bits = Uint16Array.from(rand((tB ? N : K) * ldb, N + 2), round);
        const C = new Float32Array(M * N).fill(NaN);
        addon!.gemm({ transA: false, transB: tB, M, N, K, alpha: 1, A, lda: K, B: bits, ldb, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
        const Bw = Array.from({ length: K * N }, (_, x) => widen(tB ? bits[(x % N) * ldb + Math.floor(x / N)]! : bits[Math.floor(x / N) * ldb + (x % N)]!));
        assertClose(C, matmul64(A, Bw, M, K, N), `${kernel} bfloat16 B ${M}x${N}x${K} tB=${tB}`, 1e-4, 1e-4);
      }
    }
  } finally {
    addon!.setGemmKernel(null);
  }
});

const bf16Skip = skip || (addon!.cpuInfo().features.includes('avx512bf16') ? false : 'this CPU has no AVX-512 BF16');

// Each kernel of bf16 compute: vdpbf16ps's, the AMX tile kernel (where the CPU offers it), and the
// AMX kernel's scalar reference, which reads the same packed layouts (row-paired A slivers of 32
// rows, blocks of 160 rows, tails of fewer than 16 pairs) wherever AVX-512 BF16 exists.
for (const kernel of ['avx512bf16', 'amxbf16', 'amxbf16-reference']) {
  const kernelSkip = bf16Skip || (addon!.setBf16Kernel(kernel) ? false : `this CPU cannot run ${kernel}`);
  addon?.setBf16Kernel(null);
  test(`bf16 compute on ${kernel}: equals float32 math on bf16-rounded operands`, { skip: kernelSkip }, () => {
    assert.equal(addon!.setBf16Kernel(kernel), true);
    try {
      checkBf16Compute();
    } finally {
      addon!.setBf16Kernel(null);
    }
  });
}

function checkBf16Compute(): void {
  const round = (v: number) => {
    const u = new Uint32Array(Float32Array.of(v).buffer)[0]!;
    return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  };
  const widen = (bits: number) => new Float32Array(Uint32Array.of(bits << 16).buffer)[0]!;
  assert.equal(addon!.setBf16Compute(true), true);
  try {
    // Odd K (a last pair with one value), sliver edges in M and N, both layouts of A and B (each packs
    // through its own path), and padded leading dimensions.
    // K 1299 = 3 slices of 433 (KC_PAIRS 640): every slice ends in a half pair whose other half is the next slice's.
    // M <= 4 with B transposed: decoding's few rows, one bf16 dot product per output (gemvBf16Dot), K past and short of its 64-value steps.
    const shapes: [number, number, number][] = [[29, 65, 257], [3, 33, 20], [40, 31, 9], [37, 70, 301], [17, 100, 450], [15, 17, 33], [20, 45, 1299],
      [1, 70, 301], [2, 100, 1299], [4, 37, 64], [1, 300, 2048],
      // More rows than one packed block of A (160 for the 32-row AMX slivers; threaded row bands), more columns than rows (column bands share A).
      [200, 40, 700], [40, 300, 700],
      // dY W's bf16 B is packed 512 columns at a time (kRowPairChunkSlivers): two threads' bands of 550 columns, each a whole chunk and a partial one.
      [40, 1100, 701]];
    for (const [M, N, K] of shapes) for (const tA of [false, true]) for (const tB of [false, true]) {
      const lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 5;
      const A = rand((tA ? K : M) * lda, M + 1);
      const bits = Uint16Array.from(rand((tB ? N : K) * ldb, N + 2), round);
      const C = new Float32Array(M * N).fill(NaN);
      addon!.gemm({ transA: tA, transB: tB, M, N, K, alpha: 1, A, lda, B: bits, ldb, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
      const a = (i: number, k: number) => widen(round(tA ? A[k * lda + i]! : A[i * lda + k]!));
      const b = (k: number, j: number) => widen(tB ? bits[j * ldb + k]! : bits[k * ldb + j]!);
      const Ar = Array.from({ length: M * K }, (_, x) => a(Math.floor(x / K), x % K));
      const Bw = Array.from({ length: K * N }, (_, x) => b(Math.floor(x / N), x % N));
      const expect = matmul64(Ar, Bw, M, K, N);
      assertClose(C, expect, `bf16 dot ${M}x${N}x${K} tA=${tA} tB=${tB}`, 1e-4, 1e-4);
      // and it really rounded the activations: float32 activations give a different product
      const Af = Array.from({ length: M * K }, (_, x) => (tA ? A[(x % K) * lda + Math.floor(x / K)]! : A[Math.floor(x / K) * lda + (x % K)]!));
      const widened = matmul64(Af, Bw, M, K, N);
      assert.ok(widened.some((v, i) => Math.abs(v - C[i]!) > 1e-3), 'the bf16 kernel ran');
    }
    // float32 B too (GIFT's x psi, its gradients): both operands rounded, as autocast multiplies.
    for (const [M, N, K] of [[33, 47, 1299], [5, 20, 7], [64, 64, 64]] as [number, number, number][]) for (const tA of [false, true]) for (const tB of [false, true]) {
      const A = rand(M * K, K + 3);
      const B = rand(K * N, K + 4);
      const C = new Float32Array(M * N).fill(NaN);
      addon!.gemm({ transA: tA, transB: tB, M, N, K, alpha: 1, A, lda: tA ? M : K, B, ldb: tB ? K : N, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
      const Ar = Array.from(tA ? transpose64(A, K, M) : A, (v) => widen(round(v)));
      const Br = Array.from(tB ? transpose64(B, N, K) : B, (v) => widen(round(v)));
      assertClose(C, matmul64(Ar, Br, M, K, N), `bf16 dot, float32 B ${M}x${N}x${K} tA=${tA} tB=${tB}`, 1e-4, 1e-4);
    }
    // NaN in an activation stays NaN through the rounding to bf16 (0x7f800001 would round to infinity
    // by the bare formula) and reaches exactly its row.
    for (const M of [5, 3]) {
      const N = 40, K = 35;
      const A = rand(M * K, 9);
      new Uint32Array(A.buffer)[2 * K + 7] = 0x7f800001;
      const bits = Uint16Array.from(rand(N * K, 10), round);
      const C = new Float32Array(M * N);
      addon!.gemm({ transA: false, transB: true, M, N, K, alpha: 1, A, lda: K, B: bits, ldb: K, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) assert.equal(Number.isNaN(C[i * N + j]!), i === 2, `M ${M} (${i}, ${j}) = ${C[i * N + j]}`);
    }
    // alpha and beta on the few-rows path: C = 0.5 A B^T + 2 C.
    {
      const M = 2, N = 50, K = 77;
      const A = rand(M * K, 11);
      const bits = Uint16Array.from(rand(N * K, 12), round);
      const C0 = rand(M * N, 13);
      const C = Float32Array.from(C0);
      addon!.gemm({ transA: false, transB: true, M, N, K, alpha: 0.5, A, lda: K, B: bits, ldb: K, beta: 2, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
      const Ar = Array.from(A, (v) => widen(round(v)));
      const Bw = transpose64(Array.from(bits, widen), N, K);
      const prod = matmul64(Ar, Bw, M, K, N);
      assertClose(C, prod.map((v, i) => 0.5 * v + 2 * C0[i]!), 'bf16 dot, few rows, alpha 0.5 beta 2', 1e-4, 1e-4);
    }
    // Decoding's one row reads the weight two rows at a time: each output the same bits as when two
    // activation rows take the product row by row (N 301 splits into ranges of odd length; K 301 has a tail).
    for (const [N, K] of [[301, 301], [64, 2048]] as [number, number][]) {
      const A = rand(K, N + K);
      const bits = Uint16Array.from(rand(N * K, N), round);
      const one = new Float32Array(N);
      const two = new Float32Array(2 * N);
      addon!.gemm({ transA: false, transB: true, M: 1, N, K, alpha: 1, A, lda: K, B: bits, ldb: K, beta: 0, C: one, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
      addon!.gemm({ transA: false, transB: true, M: 2, N, K, alpha: 1, A: Float32Array.from([...A, ...A]), lda: K, B: bits, ldb: K, beta: 0, C: two, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 });
      assert.deepEqual(one, two.subarray(0, N), `bf16 dot, one row and two, N ${N} K ${K}`);
    }
  } finally {
    addon!.setBf16Compute(false);
  }
}

// Tiled GEMM in WGSL: C = alpha * op(A) op(B) + beta * C, batched with strides and offsets. A
// workgroup of 16 x 16 threads computes a 64 x 64 tile of C, each thread a 4 x 4 block, from
// 64 x 16 slices of op(A) and 16 x 64 slices of op(B) staged in workgroup memory; transposes are
// read through the index, never materialised.
/// <reference types="@webgpu/types" />
import type { GemmArgs } from '../../backend.js';
import { defineKernel } from '../kernel.js';
import type { KernelRunner } from '../runner.js';
import { gpuBufferOf } from '../memory.js';
import { GiftjsError } from '../../../errors.js';

const gemmKernel = defineKernel({
  name: 'gemm',
  params: {
    M: 'u32', N: 'u32', K: 'u32', lda: 'u32', ldb: 'u32', ldc: 'u32',
    transA: 'u32', transB: 'u32', offsetA: 'u32', offsetB: 'u32',
    strideA: 'u32', strideB: 'u32', strideC: 'u32', alpha: 'f32', beta: 'f32',
  },
  buffers: [['matA', 'read'], ['matB', 'read'], ['matC', 'read_write']],
  body: /* wgsl */ `
var<workgroup> tileA: array<f32, 1024>; // [16 k][64 m]
var<workgroup> tileB: array<f32, 1024>; // [16 k][64 n]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let offA = p.offsetA + wid.z * p.strideA;
  let offB = p.offsetB + wid.z * p.strideB;
  let offC = wid.z * p.strideC;
  let row0 = wid.y * 64u;
  let col0 = wid.x * 64u;
  let tid = lid.y * 16u + lid.x;
  var acc: array<array<f32, 4>, 4>;
  for (var i = 0u; i < 4u; i++) { for (var j = 0u; j < 4u; j++) { acc[i][j] = 0.0; } }
  for (var k0 = 0u; k0 < p.K; k0 += 16u) {
    for (var e = 0u; e < 4u; e++) {
      let idx = tid + e * 256u;
      let m = idx / 16u;
      let ka = idx % 16u;
      let gm = row0 + m;
      let gka = k0 + ka;
      var a = 0.0;
      if (gm < p.M && gka < p.K) {
        a = matA[select(offA + gm * p.lda + gka, offA + gka * p.lda + gm, p.transA != 0u)];
      }
      tileA[ka * 64u + m] = a;
      let n = idx % 64u;
      let kb = idx / 64u;
      let gn = col0 + n;
      let gkb = k0 + kb;
      var b = 0.0;
      if (gn < p.N && gkb < p.K) {
        b = matB[select(offB + gkb * p.ldb + gn, offB + gn * p.ldb + gkb, p.transB != 0u)];
      }
      tileB[kb * 64u + n] = b;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { av[i] = tileA[kk * 64u + lid.y * 4u + i]; }
      for (var j = 0u; j < 4u; j++) { bv[j] = tileB[kk * 64u + lid.x * 4u + j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let gm = row0 + lid.y * 4u + i;
    if (gm >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let gn = col0 + lid.x * 4u + j;
      if (gn >= p.N) { continue; }
      let c = offC + gm * p.ldc + gn;
      // beta == 0 ignores what C held (NaN included), as BLAS does.
      var prior = 0.0;
      if (p.beta != 0.0) { prior = p.beta * matC[c]; }
      matC[c] = p.alpha * acc[i][j] + prior;
    }
  }
}`,
});

export function webGpuGemm(runner: KernelRunner, a: GemmArgs): void {
  if (a.B instanceof Uint16Array) throw new GiftjsError('webgpu backend: bfloat16 weights are not implemented on WebGPU; train in float32');
  const params = {
    M: a.M, N: a.N, K: a.K, lda: a.lda, ldb: a.ldb, ldc: a.ldc,
    transA: a.transA ? 1 : 0, transB: a.transB ? 1 : 0, offsetA: a.offsetA ?? 0, offsetB: a.offsetB ?? 0,
    strideA: a.strideA, strideB: a.strideB, strideC: a.strideC, alpha: a.alpha, beta: a.beta,
  };
  const buffers = [gpuBufferOf(a.A, 'gemm A'), gpuBufferOf(a.B, 'gemm B'), gpuBufferOf(a.C, 'gemm C')];
  runner.dispatch(gemmKernel, params, buffers, [Math.ceil(a.N / 64), Math.ceil(a.M / 64), a.batch]);
}

// bf16 compute is a capability of a backend (Backend.setBf16Compute), not a global: each backend has
// its own switch, and a backend without one (WebGPU's float32 kernels) refuses to turn it on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend, GemmArgs } from '../../src/backend/backend.js';
import { isNativeAvailable, refBackend, setBf16Compute, withBackend } from '../../src/backend/index.js';
import { createNativeBackend } from '../../src/backend/native/index.js';
import { nativeAddon } from '../../src/backend/index.js';
import { Random } from '../../src/tensor/random.js';

function product(backend: Backend<Float32Array>): Float32Array {
  const r = new Random(1);
  const M = 3, N = 4, K = 33;
  const A = Float32Array.from({ length: M * K }, () => r.normal());
  const B = Float32Array.from({ length: K * N }, () => r.normal());
  const C = new Float32Array(M * N);
  const args: GemmArgs<Float32Array> = { transA: false, transB: false, M, N, K, alpha: 1, A, lda: K, B, ldb: N, beta: 0, C, ldc: N, batch: 1, strideA: 0, strideB: 0, strideC: 0 };
  backend.gemm(args);
  return C;
}

test('a backend without bf16 compute refuses to turn it on, and turning it off is harmless', () => {
  const { setBf16Compute: _, ...float32Only } = refBackend;
  withBackend({ ...float32Only, name: 'float32-only' }, () => {
    assert.throws(() => setBf16Compute(true), /bf16 compute: the float32-only backend computes in float32 only/);
    assert.equal(setBf16Compute(false), false);
  });
});

test('each backend has its own switch: ref rounds its products while native keeps float32', () => {
  const f32 = product(refBackend);
  withBackend('ref', () => assert.equal(setBf16Compute(true), false, 'ref emulates bf16 dot products'));
  try {
    const rounded = product(refBackend);
    assert.ok(rounded.some((v, i) => Math.abs(v - f32[i]!) > 1e-4), 'ref rounded its operands');
    if (isNativeAvailable()) {
      const native = product(createNativeBackend(nativeAddon()!));
      native.forEach((v, i) => assert.ok(Math.abs(v - f32[i]!) <= 1e-4 * (1 + Math.abs(f32[i]!)), `native stays float32 at ${i}: ${v} vs ${f32[i]}`));
    }
  } finally {
    withBackend('ref', () => setBf16Compute(false));
  }
  assert.deepEqual(product(refBackend), f32);
});

// The native AdamW update (native/kernels/adamw.cpp) against the reference backend's, which
// test/train/optimizer.test.ts checks against torch.optim.AdamW: the same bits for w, m and v, over
// lengths that end in a partial vector, one long enough to be split over the threads, and
// gradients holding NaN, infinities and zeros, for three steps with weight decay. The build contracts
// products and sums into fused operations elsewhere; here that would move about 1% of the values by
// an ulp, so the comparison is exact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nativeAddon } from '../../src/backend/index.js';
import type { AdamWStep } from '../../src/backend/backend.js';
import { refAdamwUpdate } from '../../src/backend/ref/memory_ops.js';
import { Random } from '../../src/tensor/random.js';

const addon = nativeAddon();

function stepOf(t: number, lr: number, weightDecay: number): AdamWStep {
  const beta1 = 0.9, beta2 = 0.999;
  return { beta1, beta2, eps: 1e-8, decay: 1 - lr * weightDecay, stepSize: lr / (1 - beta1 ** t), sqrtBc2: Math.sqrt(1 - beta2 ** t) };
}

test('native AdamW gives the reference backend\'s bits for w, m and v (partial vectors, threads, NaN and infinities)', { skip: addon ? false : 'the native addon is not built' }, () => {
  const r = new Random(11);
  for (const n of [1, 7, 8, 9, 23, 100_003]) {
    const w = Float32Array.from({ length: n }, () => r.normal() * 0.3);
    const m = new Float32Array(n);
    const v = new Float32Array(n);
    const [nw, nm, nv] = [w.slice(), m.slice(), v.slice()];
    for (let t = 1; t <= 3; t++) {
      const g = Float32Array.from({ length: n }, () => r.normal() * 0.05);
      if (n > 20) g.set([NaN, Infinity, -Infinity, 0, -0, 1e-30], 10);
      const s = stepOf(t, 1e-3 * t, 0.01);
      refAdamwUpdate(w, g, m, v, n, s);
      addon!.adamwUpdate(nw, g, nm, nv, n, s);
      for (const [name, want, got] of [['w', w, nw], ['m', m, nm], ['v', v, nv]] as const) {
        for (let i = 0; i < n; i++) assert.ok(Object.is(got[i], want[i]), `n ${n}, step ${t}: ${name}[${i}] is ${got[i]}, the reference gives ${want[i]}`);
      }
    }
  }
});

test('native AdamW refuses arrays shorter than n and a step without its fields', { skip: addon ? false : 'the native addon is not built' }, () => {
  const a = new Float32Array(4);
  assert.throws(() => addon!.adamwUpdate(a, a, a, new Float32Array(3), 4, stepOf(1, 1e-3, 0)), /v/);
  assert.throws(() => addon!.adamwUpdate(a, a, a, a, 4, { ...stepOf(1, 1e-3, 0), sqrtBc2: undefined } as unknown as AdamWStep), /step\.sqrtBc2 must be a number/);
});

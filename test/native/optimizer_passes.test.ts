// The passes the trainer makes over whole trainable tensors between steps, native against the
// reference backend: the sum of squares (clipping's norm, the finiteness check), scaling in place
// (clipping), and AdamW (native/kernels/adamw.cpp), which test/train/optimizer.test.ts checks
// against torch.optim.AdamW: the same bits for w, m and v, over
// lengths that end in a partial vector, one long enough to be split over the threads, and
// gradients holding NaN, infinities and zeros, for three steps with weight decay. The build contracts
// products and sums into fused operations elsewhere; here that would move about 1% of the values by
// an ulp, so the comparison is exact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nativeAddon } from '../../src/backend/index.js';
import type { AdamWStep } from '../../src/backend/backend.js';
import { refAdamwUpdate, refScaleInPlace, refSumOfSquares } from '../../src/backend/ref/memory_ops.js';
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

test('the sum of squares: native and reference give the same bits, within 1e-12 of a plain float64 sum; NaN and infinities come through', { skip: addon ? false : 'the native addon is not built' }, () => {
  const r = new Random(12);
  // Lengths around the 4096-value blocks and the 8 lanes, and one the threads split.
  for (const n of [0, 1, 7, 8, 9, 4095, 4096, 4097, 4096 * 3 + 13, 1_000_003]) {
    const x = Float32Array.from({ length: n }, () => r.normal() * 10 ** r.int(6));
    let plain = 0;
    for (let i = 0; i < n; i++) plain += x[i]! * x[i]!;
    const ref = refSumOfSquares(x, n);
    assert.ok(Math.abs(ref - plain) <= 1e-12 * plain, `n ${n}: the reference's ${ref} against a plain float64 sum's ${plain}`);
    assert.ok(Object.is(addon!.sumOfSquares(x, n), ref), `n ${n}: native ${addon!.sumOfSquares(x, n)}, reference ${ref}`);
    if (n > 4100) {
      // Only the first n values count: a NaN past them changes nothing.
      const longer = new Float32Array(n + 1);
      longer.set(x);
      longer[n] = NaN;
      assert.ok(Object.is(addon!.sumOfSquares(longer, n), ref), `n ${n}: a value past n was read`);
      for (const [bad, want] of [[NaN, NaN], [Infinity, Infinity], [-Infinity, Infinity], [3e38, Math.fround(3e38) ** 2]] as const) {
        const y = x.slice();
        y[4097] = bad;
        const got = addon!.sumOfSquares(y, n);
        assert.ok(Number.isFinite(want) ? Math.abs(got - want) <= 1e-12 * want : Object.is(got, want), `n ${n}: with ${bad}, ${got}`);
        assert.ok(Object.is(got, refSumOfSquares(y, n)), `n ${n}: with ${bad}, native and reference differ`);
      }
    }
  }
});

test('scaling in place: native and reference give the same bits (a double factor, each value rounded once)', { skip: addon ? false : 'the native addon is not built' }, () => {
  const r = new Random(13);
  for (const n of [1, 9, 100_003]) {
    const x = Float32Array.from({ length: n }, () => r.normal());
    if (n > 4) x.set([NaN, Infinity, -0, 3e38], 0);
    const original = x.slice();
    const want = x.slice();
    const s = 0.1 / 3; // not a float32
    refScaleInPlace(want, s, n);
    addon!.scaleInPlace(x, s, n);
    for (let i = 0; i < n; i++) {
      // Each value times the double s, rounded once to float32.
      assert.ok(Object.is(want[i], Math.fround(original[i]! * s)), `n ${n}: the reference's [${i}] is ${want[i]}`);
      assert.ok(Object.is(x[i], want[i]), `n ${n}: [${i}] is ${x[i]}, the reference gives ${want[i]}`);
    }
  }
});

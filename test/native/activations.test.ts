// The native activations (vectorised on AVX-512: GELU's erf from a Taylor series and a fitted erfc tail,
// GELU-tanh and SiLU from sigmoids) against float64 math over [-12, 12]: values within 3e-6 relative, or
// 1e-16 absolute where they are that small (past 6 sqrt(2) below zero, erfc is taken as 0), derivatives
// within 3e-6 relative or 2e-7 absolute. GELU's far
// tail is where 1 + erf(z) in float32 used to cancel: at x = -5.5 the scalar erff gave -1.64e-7 for
// -1.04e-7. Lengths that are not whole vectors take the scalar path for their tail.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nativeAddon } from '../../src/backend/index.js';
import { ActivationKind } from '../../src/backend/backend.js';
import { activationDerivative, activationValue } from '../../src/backend/ref/activations.js';

const addon = nativeAddon();

test('GELU (erf and tanh) and SiLU, value and derivative, match float64 math from -12 to 12, the tails included', { skip: addon ? false : 'the native addon is not built' }, () => {
  const n = 48_007; // not a multiple of 16
  const x = Float32Array.from({ length: n }, (_, i) => -12 + (24 * i) / (n - 1));
  x.set([-5.5, -4, -0.5, 1e-30, 0, 1], 0);
  for (const kind of [ActivationKind.GeluErf, ActivationKind.GeluTanh, ActivationKind.Silu]) {
    const y = new Float32Array(n);
    const dx = new Float32Array(n);
    addon!.activationForward(kind, x, y, n);
    addon!.activationBackward(kind, x, new Float32Array(n).fill(1), dx, n);
    for (let i = 0; i < n; i++) {
      for (const [got, want, what] of [[y[i]!, activationValue(kind, x[i]!), 'value'], [dx[i]!, activationDerivative(kind, x[i]!), 'derivative']] as const) {
        const error = Math.abs(got - want);
        // (A derivative is a sum of terms near 1 that cancel where it crosses zero: there it is held to 2e-7 absolute.)
        const bound = Math.max(3e-6 * Math.abs(want), what === 'value' ? 1e-16 : 2e-7);
        assert.ok(error <= bound, `${ActivationKind[kind]} ${what} at ${x[i]}: ${got}, float64 ${want}`);
      }
    }
  }
});

test('the activations pass NaN through and take the infinite limits', { skip: addon ? false : 'the native addon is not built' }, () => {
  const x = new Float32Array(32).fill(0.5);
  x.set([NaN, Infinity, -Infinity], 0);
  x.set([NaN, Infinity, -Infinity], 16);
  for (const kind of [ActivationKind.GeluErf, ActivationKind.GeluTanh, ActivationKind.Silu]) {
    const y = new Float32Array(32);
    addon!.activationForward(kind, x, y, 32);
    for (const i of [0, 16]) {
      assert.ok(Number.isNaN(y[i]!), `${ActivationKind[kind]}(NaN)`);
      assert.equal(y[i + 1], Infinity, `${ActivationKind[kind]}(+inf)`);
      assert.equal(y[i + 2], activationValue(kind, -Infinity), `${ActivationKind[kind]}(-inf) as float64 math gives it`);
    }
  }
});

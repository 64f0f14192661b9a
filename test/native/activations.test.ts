// The native activations (vectorised on AVX-512: GELU's erf from a Taylor series and a fitted erfc tail,
// GELU-tanh and SiLU from sigmoids, ReLU a masked move; tanh scalar) against float64 math over [-12, 12]: values within 3e-6 relative, or
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

const ALL = [ActivationKind.GeluErf, ActivationKind.GeluTanh, ActivationKind.Silu, ActivationKind.Relu, ActivationKind.Tanh];

test('GELU (erf and tanh), SiLU, ReLU and tanh, value and derivative, match float64 math from -12 to 12, the tails included', { skip: addon ? false : 'the native addon is not built' }, () => {
  const n = 48_007; // not a multiple of 16
  const x = Float32Array.from({ length: n }, (_, i) => -12 + (24 * i) / (n - 1));
  x.set([-5.5, -4, -0.5, 1e-30, 0, 1, -1e-30, -0], 0);
  for (const kind of ALL) {
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
  for (const kind of ALL) {
    const y = new Float32Array(32);
    addon!.activationForward(kind, x, y, 32);
    for (const i of [0, 16]) {
      assert.ok(Number.isNaN(y[i]!), `${ActivationKind[kind]}(NaN)`);
      assert.equal(y[i + 1], activationValue(kind, Infinity), `${ActivationKind[kind]}(+inf) as float64 math gives it`);
      assert.equal(y[i + 2], activationValue(kind, -Infinity), `${ActivationKind[kind]}(-inf) as float64 math gives it`);
    }
    // The gradient of a NaN input is NaN, and a NaN gradient stays NaN where ReLU is flat (NaN * 0), as the reference computes.
    const dy = new Float32Array(32).fill(1);
    dy[19] = NaN;
    const xs = new Float32Array(32).fill(-1);
    xs[0] = NaN;
    const dx = new Float32Array(32);
    addon!.activationBackward(kind, xs, dy, dx, 32);
    assert.ok(Number.isNaN(dx[0]!) && Number.isNaN(dx[19]!), `${ActivationKind[kind]}' with NaN: ${dx[0]}, ${dx[19]}`);
  }
});

test('an activation kind the kernels do not have is refused by name, not computed as another', { skip: addon ? false : 'the native addon is not built' }, () => {
  const x = new Float32Array(16);
  assert.throws(() => addon!.activationForward(5 as ActivationKind, x, x, 16), /activation kind 5 is none of GeluErf 0, GeluTanh 1, Silu 2, Relu 3, Tanh 4/);
  assert.throws(() => addon!.activationBackward(-1 as ActivationKind, x, x, x, 16), /activation kind -1 is none of/);
});

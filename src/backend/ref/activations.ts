// Reference pointwise activations: value and derivative side by side.
import { ActivationKind } from '../backend.js';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** erf to double precision: its Taylor series below 2.5, erfc's continued fraction above. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Taylor series: erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 80; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const v = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -v : v;
  }
  const v = 1 - erfcTail(ax);
  return x < 0 ? -v : v;
}

/** erfc(x) for x >= 2.5, by its continued fraction. */
function erfcTail(x: number): number {
  let f = 0;
  for (let n = 60; n >= 1; n--) f = (n / 2) / (x + f);
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / (x + f);
}

/** 1 + erf(x), without the cancellation of 1 + (-1 + tiny) far below zero (GELU's tail). */
export function onePlusErf(x: number): number {
  return x <= -2.5 ? erfcTail(-x) : 1 + erf(x);
}

/** GELU-tanh's sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): 0.5 (1 + tanh u) without its cancellation. */
function tanhGate(x: number): number {
  return 1 / (1 + Math.exp(-2 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

export function activationValue(kind: ActivationKind, x: number): number {
  switch (kind) {
    case ActivationKind.GeluErf:
      return 0.5 * x * onePlusErf(x * INV_SQRT_2);
    case ActivationKind.GeluTanh:
      return x * tanhGate(x);
    case ActivationKind.Silu:
      return x / (1 + Math.exp(-x));
    case ActivationKind.Relu:
      return x > 0 || x !== x ? x : 0; // NaN passes through, as in PyTorch
    case ActivationKind.Tanh:
      return Math.tanh(x);
  }
}

export function activationDerivative(kind: ActivationKind, x: number): number {
  switch (kind) {
    case ActivationKind.GeluErf:
      return 0.5 * onePlusErf(x * INV_SQRT_2) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    case ActivationKind.GeluTanh: {
      // 0.5 (1 + t) = s and 0.5 (1 - t^2) = 2 s (1 - s), with s = sigmoid(2u).
      const s = tanhGate(x);
      const du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
      return s + x * 2 * s * (1 - s) * du;
    }
    case ActivationKind.Silu: {
      const s = 1 / (1 + Math.exp(-x));
      return s * (1 + x * (1 - s));
    }
    case ActivationKind.Relu:
      return x > 0 ? 1 : x !== x ? x : 0;
    case ActivationKind.Tanh: {
      const t = Math.tanh(x);
      return 1 - t * t;
    }
  }
}

export function refActivationForward(kind: ActivationKind, x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = activationValue(kind, x[i]!);
}

export function refActivationBackward(kind: ActivationKind, x: Float32Array, dy: Float32Array, dx: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) dx[i] = dy[i]! * activationDerivative(kind, x[i]!);
}

export function refSwigluForward(gate: Float32Array, up: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] = activationValue(ActivationKind.Silu, gate[i]!) * up[i]!;
}

export function refSwigluBackward(gate: Float32Array, up: Float32Array, dy: Float32Array, dgate: Float32Array | null, dup: Float32Array | null, n: number): void {
  for (let i = 0; i < n; i++) {
    if (dgate) dgate[i] = dy[i]! * up[i]! * activationDerivative(ActivationKind.Silu, gate[i]!);
    if (dup) dup[i] = dy[i]! * activationValue(ActivationKind.Silu, gate[i]!);
  }
}

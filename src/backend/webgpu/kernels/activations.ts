// Pointwise activations and SwiGLU in WGSL, value and derivative side by side: one thread per value.
/// <reference types="@webgpu/types" />
import type { ActivationKind, DeviceBuffer } from '../../backend.js';
import { defineKernel, gridFor } from '../kernel.js';
import type { KernelRunner } from '../runner.js';
import { gpuBufferOf } from '../memory.js';

/**
 * Activation values and derivatives in float32. WGSL has no erf: GELU's uses Abramowitz-Stegun
 * 7.1.26 (absolute error 1.5e-7, float32's own resolution near 1); tanh is written through exp of
 * a non-positive argument, which cannot overflow.
 */
const ACTIVATIONS = /* wgsl */ `
fn erf32(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(y, -y, x < 0.0);
}
fn tanh32(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  let t = (1.0 - e) / (1.0 + e);
  return select(t, -t, x < 0.0);
}
fn sigmoid32(x: f32) -> f32 {
  // exp of a non-positive argument only, so a large |x| gives 0 or 1 instead of inf / inf.
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}
fn activationValue(kind: u32, x: f32) -> f32 {
  if (isNan(x)) { return x; }
  switch kind {
    case 0u: { return 0.5 * x * (1.0 + erf32(x * 0.7071067811865476)); }
    case 1u: { return 0.5 * x * (1.0 + tanh32(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
    case 2u: { return x * sigmoid32(x); }
    case 3u: { return max(x, 0.0); }
    default: { return tanh32(x); }
  }
}
fn activationDerivative(kind: u32, x: f32) -> f32 {
  if (isNan(x)) { return x; }
  switch kind {
    case 0u: { return 0.5 * (1.0 + erf32(x * 0.7071067811865476)) + x * 0.3989422804014327 * exp(-0.5 * x * x); }
    case 1u: {
      let t = tanh32(0.7978845608028654 * (x + 0.044715 * x * x * x));
      let du = 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x);
      return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
    }
    case 2u: { let s = sigmoid32(x); return s * (1.0 + x * (1.0 - s)); }
    case 3u: { return select(0.0, 1.0, x > 0.0); }
    default: { let t = tanh32(x); return 1.0 - t * t; }
  }
}`;

const activationForwardKernel = defineKernel({
  name: 'activationForward',
  params: { n: 'u32', kind: 'u32' },
  buffers: [['xs', 'read'], ['ys', 'read_write']],
  body: /* wgsl */ `${ACTIVATIONS}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i < p.n) { ys[i] = activationValue(p.kind, xs[i]); }
}`,
});

const activationBackwardKernel = defineKernel({
  name: 'activationBackward',
  params: { n: 'u32', kind: 'u32' },
  buffers: [['xs', 'read'], ['dy', 'read'], ['dx', 'read_write']],
  body: /* wgsl */ `${ACTIVATIONS}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i < p.n) { dx[i] = dy[i] * activationDerivative(p.kind, xs[i]); }
}`,
});

const swigluForwardKernel = defineKernel({
  name: 'swigluForward',
  params: { n: 'u32' },
  buffers: [['gate', 'read'], ['up', 'read'], ['ys', 'read_write']],
  body: /* wgsl */ `${ACTIVATIONS}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i < p.n) { ys[i] = activationValue(2u, gate[i]) * up[i]; }
}`,
});

const swigluBackwardKernel = defineKernel({
  name: 'swigluBackward',
  params: { n: 'u32', wantGate: 'u32', wantUp: 'u32' },
  buffers: [['gate', 'read'], ['up', 'read'], ['dy', 'read'], ['dgate', 'read_write'], ['dup', 'read_write']],
  body: /* wgsl */ `${ACTIVATIONS}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  let g = gate[i];
  if (p.wantGate != 0u) { dgate[i] = dy[i] * up[i] * activationDerivative(2u, g); }
  if (p.wantUp != 0u) { dup[i] = dy[i] * activationValue(2u, g); }
}`,
});

export function webGpuActivations(runner: KernelRunner) {
  const buf = gpuBufferOf;
  /** A bound stand-in for an output the caller does not want (the kernel skips writing it). */
  const unused = () => runner.scratch(16);
  return {
    activationForward(kind: ActivationKind, x: DeviceBuffer, y: DeviceBuffer, n: number): void {
      runner.dispatch(activationForwardKernel, { n, kind }, [buf(x, 'activation x'), buf(y, 'activation y')], gridFor(n));
    },
    activationBackward(kind: ActivationKind, x: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer, n: number): void {
      runner.dispatch(activationBackwardKernel, { n, kind }, [buf(x, 'activation x'), buf(dy, 'activation dy'), buf(dx, 'activation dx')], gridFor(n));
    },
    swigluForward(gate: DeviceBuffer, up: DeviceBuffer, y: DeviceBuffer, n: number): void {
      runner.dispatch(swigluForwardKernel, { n }, [buf(gate, 'swiglu gate'), buf(up, 'swiglu up'), buf(y, 'swiglu y')], gridFor(n));
    },
    swigluBackward(gate: DeviceBuffer, up: DeviceBuffer, dy: DeviceBuffer, dgate: DeviceBuffer | null, dup: DeviceBuffer | null, n: number): void {
      const buffers = [buf(gate, 'swiglu gate'), buf(up, 'swiglu up'), buf(dy, 'swiglu dy'), dgate ? buf(dgate, 'swiglu dgate') : unused(), dup ? buf(dup, 'swiglu dup') : unused()];
      runner.dispatch(swigluBackwardKernel, { n, wantGate: dgate ? 1 : 0, wantUp: dup ? 1 : 0 }, buffers, gridFor(n));
    },
  };
}

// Elementwise WGSL kernels: broadcasting arithmetic and strided copies (one thread per output
// element, its operand offsets found from the shape and strides held in a small buffer), RoPE,
// and the pointwise activations and SwiGLU, value and derivative side by side.
/// <reference types="@webgpu/types" />
import type { ActivationKind, BinaryOp, DeviceBuffer } from '../../backend.js';
import { defineKernel, gridFor } from '../kernel.js';
import type { KernelRunner } from '../runner.js';
import { gpuBufferOf } from '../memory.js';

/** [shape..., strides of operand 1..., strides of operand 2...] as i32, for the strided kernels. */
function shapeTable(shape: readonly number[], ...strides: (readonly number[])[]): Int32Array {
  return Int32Array.from([...shape, ...strides.flat(), 0]);
}

const binaryKernel = defineKernel({
  name: 'binary',
  params: { total: 'u32', rank: 'i32', op: 'u32' },
  buffers: [['lhs', 'read'], ['rhs', 'read'], ['outv', 'read_write'], ['dims', 'read', 'i32']],
  body: /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.total) { return; }
  var rem = i32(i);
  var ia = 0;
  var ib = 0;
  for (var d = p.rank - 1; d >= 0; d--) {
    let size = dims[d];
    let idx = rem % size;
    rem = rem / size;
    ia += idx * dims[p.rank + d];
    ib += idx * dims[2 * p.rank + d];
  }
  let x = lhs[ia];
  let y = rhs[ib];
  var r: f32;
  switch p.op {
    case 0u: { r = x + y; }
    case 1u: { r = x - y; }
    case 2u: { r = x * y; }
    default: { r = x / y; }
  }
  outv[i] = r;
}`,
});

const copyStridedKernel = defineKernel({
  name: 'copyStrided',
  params: { total: 'u32', rank: 'i32' },
  buffers: [['src', 'read'], ['dst', 'read_write'], ['dims', 'read', 'i32']],
  body: /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.total) { return; }
  var rem = i32(i);
  var si = 0;
  for (var d = p.rank - 1; d >= 0; d--) {
    let size = dims[d];
    si += (rem % size) * dims[p.rank + d];
    rem = rem / size;
  }
  dst[i] = src[si];
}`,
});

const ropeKernel = defineKernel({
  name: 'ropeRotate',
  params: { rows: 'u32', T: 'u32', D: 'u32', direction: 'f32' },
  buffers: [['src', 'read'], ['dst', 'read_write'], ['cosTable', 'read'], ['sinTable', 'read']],
  body: /* wgsl */ `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let half = p.D / 2u;
  let i = flatIndex(gid, nwg);
  if (i >= p.rows * half) { return; }
  let r = i / half;
  let j = i % half;
  let t = r % p.T;
  let c = cosTable[t * half + j];
  let s = sinTable[t * half + j] * p.direction;
  let o = r * p.D;
  let x1 = src[o + j];
  let x2 = src[o + half + j];
  dst[o + j] = x1 * c - x2 * s;
  dst[o + half + j] = x2 * c + x1 * s;
}`,
});

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

export function webGpuElementwise(runner: KernelRunner) {
  const buf = gpuBufferOf;
  /** A bound stand-in for an output the caller does not want (the kernel skips writing it). */
  const unused = () => runner.scratch(16);
  return {
    binary(op: BinaryOp, shape: readonly number[], a: DeviceBuffer, aStrides: readonly number[], b: DeviceBuffer, bStrides: readonly number[], out: DeviceBuffer): void {
      const total = shape.reduce((x, y) => x * y, 1);
      const dims = runner.temporary(shapeTable(shape, aStrides, bStrides));
      runner.dispatch(binaryKernel, { total, rank: shape.length, op }, [buf(a, 'binary a'), buf(b, 'binary b'), buf(out, 'binary out'), dims], gridFor(total));
    },
    copyStrided(shape: readonly number[], src: DeviceBuffer, srcStrides: readonly number[], dst: DeviceBuffer): void {
      const total = shape.reduce((x, y) => x * y, 1);
      const dims = runner.temporary(shapeTable(shape, srcStrides));
      runner.dispatch(copyStridedKernel, { total, rank: shape.length }, [buf(src, 'copyStrided src'), buf(dst, 'copyStrided dst'), dims], gridFor(total));
    },
    ropeRotate(src: DeviceBuffer, dst: DeviceBuffer, cos: DeviceBuffer, sin: DeviceBuffer, rows: number, T: number, D: number, direction: 1 | -1): void {
      const buffers = [buf(src, 'ropeRotate src'), buf(dst, 'ropeRotate dst'), buf(cos, 'ropeRotate cos'), buf(sin, 'ropeRotate sin')];
      runner.dispatch(ropeKernel, { rows, T, D, direction }, buffers, gridFor((rows * D) / 2));
    },
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


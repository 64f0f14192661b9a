// Elementwise WGSL kernels: broadcasting arithmetic and strided copies (one thread per output
// element, its operand offsets found from the shape and strides held in a small buffer).
/// <reference types="@webgpu/types" />
import type { BinaryOp, DeviceBuffer } from '../../backend.js';
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

export function webGpuElementwise(runner: KernelRunner) {
  const buf = gpuBufferOf;
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
  };
}

// RoPE in WGSL (rotary position embeddings, rotate-half form): one thread per pair of values.
/// <reference types="@webgpu/types" />
import type { DeviceBuffer } from '../../backend.js';
import { defineKernel, gridFor } from '../kernel.js';
import type { KernelRunner } from '../runner.js';
import { gpuBufferOf } from '../memory.js';

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

export function webGpuRope(runner: KernelRunner) {
  const buf = gpuBufferOf;
  return {
    ropeRotate(src: DeviceBuffer, dst: DeviceBuffer, cos: DeviceBuffer, sin: DeviceBuffer, rows: number, T: number, D: number, direction: 1 | -1): void {
      const buffers = [buf(src, 'ropeRotate src'), buf(dst, 'ropeRotate dst'), buf(cos, 'ropeRotate cos'), buf(sin, 'ropeRotate sin')];
      runner.dispatch(ropeKernel, { rows, T, D, direction }, buffers, gridFor((rows * D) / 2));
    },
  };
}

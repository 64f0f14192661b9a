// Inverted dropout in WGSL, its mask drawn where it is applied by the counter-based hash of
// src/backend/ref/dropout.ts (two rounds of lowbias32; WGSL's u32 multiply wraps as C's does), one
// thread per value.
/// <reference types="@webgpu/types" />
import type { DeviceBuffer } from '../../backend.js';
import { defineKernel, gridFor } from '../kernel.js';
import type { KernelRunner } from '../runner.js';
import { gpuBufferOf } from '../memory.js';

/** The hash's draw of value i under the key (key0, key1); attention's kernels draw their masks with it too. */
export const DROPOUT_DRAW = /* wgsl */ `
fn mix32(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}
fn dropoutDraw(key0: u32, key1: u32, i: u32) -> u32 { return mix32(mix32(i + key0) ^ key1); }`;

const dropoutKernel = defineKernel({
  name: 'dropoutMultiply',
  params: { n: 'u32', key0: 'u32', key1: 'u32', dropBelow: 'u32', keepScale: 'f32' },
  buffers: [['xs', 'read'], ['outv', 'read_write']],
  body: /* wgsl */ `${DROPOUT_DRAW}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  outv[i] = xs[i] * select(p.keepScale, 0.0, dropoutDraw(p.key0, p.key1, i) < p.dropBelow);
}`,
});

export function webGpuDropout(runner: KernelRunner) {
  return {
    dropoutMultiply(x: DeviceBuffer, out: DeviceBuffer, n: number, key0: number, key1: number, dropBelow: number, keepScale: number): void {
      runner.dispatch(dropoutKernel, { n, key0, key1, dropBelow, keepScale }, [gpuBufferOf(x, 'dropout x'), gpuBufferOf(out, 'dropout out')], gridFor(n));
    },
  };
}

// The `webgpu` backend: the Backend interface on a GPUDevice, every kernel in WGSL and every buffer
// in GPU memory. In a browser the device comes from navigator.gpu; in Node from the optional
// `webgpu` package (Dawn). What it does not implement it refuses by name: bfloat16 storage and bf16
// compute (train in float32 on WebGPU), and synchronous reads (the host reads with readAsync; the
// sum of squares is computed into a GPU buffer with sumOfSquaresInto).
/// <reference types="@webgpu/types" />
import type { Backend, DeviceBuffer } from '../backend.js';
import { KernelRunner } from './runner.js';
import { createWebGpuMemory } from './memory.js';
import { webGpuGemm } from './kernels/gemm.js';
import { webGpuElementwise } from './kernels/elementwise.js';
import { webGpuRope } from './kernels/rope.js';
import { webGpuActivations } from './kernels/activations.js';
import { webGpuDropout } from './kernels/dropout.js';
import { webGpuCrossEntropy } from './kernels/cross_entropy.js';
import { webGpuNorms } from './kernels/norms.js';
import { webGpuSoftmax } from './kernels/softmax.js';
import { webGpuAttention } from './kernels/attention.js';
import { webGpuMemoryOps } from './kernels/memory_ops.js';
import { GiftjsError } from '../../errors.js';

export interface WebGpuBackend extends Backend {
  readonly device: GPUDevice;
  sumOfSquaresInto(buffer: DeviceBuffer, n: number, result: DeviceBuffer, index: number): void;
  /** Submits queued work and throws the first GPU error raised since the last check. */
  synchronize(): Promise<void>;
}

export function createWebGpuBackend(device: GPUDevice): WebGpuBackend {
  const runner = new KernelRunner(device);
  return {
    name: 'webgpu',
    device,
    memory: createWebGpuMemory(runner),
    gemm: (args) => webGpuGemm(runner, args),
    ...webGpuNorms(runner),
    ...webGpuSoftmax(runner),
    ...webGpuCrossEntropy(runner),
    ...webGpuAttention(runner),
    ...webGpuElementwise(runner),
    ...webGpuRope(runner),
    ...webGpuActivations(runner),
    ...webGpuDropout(runner),
    ...webGpuMemoryOps(runner),
    async synchronize() {
      runner.flush();
      await device.queue.onSubmittedWorkDone();
      await runner.checkErrors();
    },
  };
}

/** The limits the kernels rely on, asked of the adapter (defaults suffice on every WebGPU device). */
function requiredLimits(adapter: GPUAdapter): Record<string, number> {
  return { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize };
}

/**
 * A GPUDevice from `gpu` (navigator.gpu in a browser, the `webgpu` package's in Node), or an error
 * that says why there is none.
 */
export async function requestWebGpuDevice(gpu: GPU | undefined): Promise<GPUDevice> {
  if (!gpu) throw new GiftjsError('webgpu: this runtime has no WebGPU (navigator.gpu is missing; in Node install the `webgpu` package)');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new GiftjsError('webgpu: no GPU adapter is available (no GPU, or its driver lacks what WebGPU needs)');
  return adapter.requestDevice({ requiredLimits: requiredLimits(adapter) });
}

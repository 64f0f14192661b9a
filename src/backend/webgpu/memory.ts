// The memory of the WebGPU backend: each buffer is a GPU storage buffer the host cannot address.
// Uploads are queued writes; reads are asynchronous (downloadAsync), as WebGPU maps memory only
// asynchronously, so the synchronous download() refuses by name and points to Tensor.readAsync().
/// <reference types="@webgpu/types" />
import type { BackendMemory, DeviceBuffer, HostValues } from '../backend.js';
import type { KernelRunner } from './runner.js';
import { GiftjsError } from '../../errors.js';

const BF16_REFUSED = 'webgpu backend: bfloat16 storage (--bf16 frozen weights) is not implemented on WebGPU; train in float32';

export class GpuBuffer implements DeviceBuffer {
  constructor(
    readonly gpu: GPUBuffer,
    readonly length: number,
  ) {}
}

export function gpuBufferOf(buffer: unknown, where: string): GPUBuffer {
  if (buffer instanceof GpuBuffer) return buffer.gpu;
  const kind = buffer instanceof Float32Array || buffer instanceof Uint16Array ? `a host ${buffer.constructor.name}` : String(buffer);
  throw new GiftjsError(`webgpu backend: ${where} was given ${kind} instead of one of its GPU buffers (a tensor created under another backend)`);
}

export function createWebGpuMemory(runner: KernelRunner): BackendMemory {
  return {
    space: 'webgpu',
    alloc: (length) => new GpuBuffer(runner.createStorage(length * 4), length),
    free: (buffer) => runner.release(gpuBufferOf(buffer, 'free')),
    hostView: () => null,
    upload(buffer, values) {
      const gpu = gpuBufferOf(buffer, 'upload');
      if (!(values instanceof Float32Array)) {
        throw new GiftjsError(BF16_REFUSED);
      }
      if (values.length !== buffer.length) throw new GiftjsError(`webgpu backend: upload of ${values.length} values into a buffer of ${buffer.length}`);
      runner.flush(); // queued work that still reads the old contents runs first
      runner.device.queue.writeBuffer(gpu, 0, values.buffer, values.byteOffset, values.byteLength);
    },
    download() {
      throw new GiftjsError('webgpu backend: the host reads GPU memory only asynchronously; use Tensor.readAsync() (or memory.downloadAsync)');
    },
    async downloadAsync(buffer) {
      const bytes = await runner.read(gpuBufferOf(buffer, 'downloadAsync'), buffer.length * 4);
      return new Float32Array(bytes) as HostValues;
    },
    toBf16() {
      throw new GiftjsError(BF16_REFUSED);
    },
    isBf16: () => false,
  };
}

// Records kernel dispatches into one command encoder and submits them when the host needs a
// result (a read, an upload into a buffer that queued work may still read) or a buffer is freed.
// Queue order is program order, so pooled buffers can be reused between dispatches without waits.
/// <reference types="@webgpu/types" />
import { type Kernel, packParams } from './kernel.js';
import { GiftjsError } from '../../errors.js';

const STORAGE = 0x80; // GPUBufferUsage.STORAGE
const COPY_SRC = 0x04;
const COPY_DST = 0x08;
const UNIFORM = 0x40;
const MAP_READ = 0x01;

export class KernelRunner {
  private encoder: GPUCommandEncoder | null = null;
  /** Buffers to destroy once the work that uses them has been submitted. */
  private retired: GPUBuffer[] = [];
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  /** The error scopes opened at the last boundary (validation, out of memory, internal). */
  private scopesOpen = false;

  constructor(readonly device: GPUDevice) {
    this.openScopes();
  }

  /** A storage buffer of `bytes` (at least 4), usable by kernels and copies. */
  createStorage(bytes: number): GPUBuffer {
    // A kernel binds a whole buffer: one past the device's binding limit is refused here, by
    // size, rather than failing later as a validation error at the next read.
    const limit = Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
    if (bytes > limit) {
      throw new GiftjsError(`webgpu: a tensor of ${(bytes / 2 ** 20).toFixed(1)} MiB passes this GPU's largest storage buffer (${(limit / 2 ** 20).toFixed(1)} MiB); use a smaller model or batch, or a CPU backend`);
    }
    return this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 4) * 4), usage: STORAGE | COPY_SRC | COPY_DST });
  }

  /** A storage buffer holding these values, destroyed after the next submit (ids, targets, shapes). */
  temporary(values: Int32Array | Float32Array): GPUBuffer {
    const buffer = this.device.createBuffer({ size: Math.max(16, values.byteLength), usage: STORAGE | COPY_SRC, mappedAtCreation: true });
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    buffer.unmap();
    this.retired.push(buffer);
    return buffer;
  }

  /** A scratch buffer of `bytes` that the caller leaves to the runner (destroyed after the next submit). */
  scratch(bytes: number): GPUBuffer {
    const buffer = this.createStorage(bytes);
    this.retired.push(buffer);
    return buffer;
  }

  /** Destroys the buffer once queued work that reads it has been submitted. */
  release(buffer: GPUBuffer): void {
    if (this.encoder) this.retired.push(buffer);
    else buffer.destroy();
  }

  /**
   * Queues one dispatch. A buffer bound for writing that is also bound elsewhere (out = a, src =
   * dst) is written through a copy and copied back, since WebGPU forbids a writable binding that
   * aliases another one in the same dispatch.
   */
  dispatch(kernel: Kernel, params: Record<string, number>, buffers: readonly GPUBuffer[], groups: readonly [number, number, number]): void {
    if (buffers.length !== kernel.access.length) {
      throw new GiftjsError(`webgpu kernel ${kernel.name}: ${buffers.length} buffers bound, ${kernel.access.length} declared`);
    }
    if (groups.some((g) => g === 0)) return;
    const limit = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (groups.some((g) => g > limit)) throw new GiftjsError(`webgpu kernel ${kernel.name}: ${groups.join('x')} workgroups pass the device's limit of ${limit} per dimension`);
    const encoder = (this.encoder ??= this.device.createCommandEncoder());
    const bound = [...buffers];
    const copyBack: [GPUBuffer, GPUBuffer][] = [];
    kernel.access.forEach((access, i) => {
      if (access !== 'read_write') return;
      const b = buffers[i]!;
      if (!buffers.some((other, j) => j !== i && other === b)) return;
      const copy = this.scratch(b.size);
      encoder.copyBufferToBuffer(b, 0, copy, 0, b.size);
      bound[i] = copy;
      copyBack.push([copy, b]);
    });
    const uniform = this.device.createBuffer({ size: 16 * Math.max(1, Math.ceil(kernel.params.length / 4)), usage: UNIFORM, mappedAtCreation: true });
    new Uint8Array(uniform.getMappedRange()).set(new Uint8Array(packParams(kernel, params)));
    uniform.unmap();
    this.retired.push(uniform);
    const pipeline = this.pipeline(kernel);
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: uniform } }, ...bound.map((buffer, i) => ({ binding: i + 1, resource: { buffer } }))],
    });
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    pass.end();
    for (const [copy, b] of copyBack) encoder.copyBufferToBuffer(copy, 0, b, 0, b.size);
  }

  /** Queues a copy of `bytes` bytes between buffers (block copies that are whole-buffer prefixes). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    const encoder = (this.encoder ??= this.device.createCommandEncoder());
    encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submits the queued work. */
  flush(): void {
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
    }
    for (const b of this.retired) b.destroy();
    this.retired = [];
  }

  /** The first `bytes` bytes of the buffer on the host, after all queued work; GPU errors since the last read are thrown here. */
  async read(buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    const staging = this.device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 4) * 4), usage: MAP_READ | COPY_DST });
    const encoder = (this.encoder ??= this.device.createCommandEncoder());
    encoder.copyBufferToBuffer(buffer, 0, staging, 0, staging.size);
    this.flush();
    try {
      await this.checkErrors();
      await staging.mapAsync(1 /* GPUMapMode.READ */);
      return staging.getMappedRange(0, staging.size).slice(0, bytes);
    } finally {
      staging.destroy();
    }
  }

  /** Throws the first validation, out-of-memory or internal error raised since the last check. */
  async checkErrors(): Promise<void> {
    if (!this.scopesOpen) return;
    this.scopesOpen = false;
    const errors = [await this.device.popErrorScope(), await this.device.popErrorScope(), await this.device.popErrorScope()];
    this.openScopes();
    const error = errors.find((e) => e !== null);
    if (error) throw new GiftjsError(`webgpu: ${error.message}`);
  }

  private openScopes(): void {
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('internal');
    this.scopesOpen = true;
  }

  private pipeline(kernel: Kernel): GPUComputePipeline {
    let pipeline = this.pipelines.get(kernel.name);
    if (!pipeline) {
      const module = this.device.createShaderModule({ label: kernel.name, code: kernel.code });
      pipeline = this.device.createComputePipeline({ label: kernel.name, layout: 'auto', compute: { module, entryPoint: 'main' } });
      this.pipelines.set(kernel.name, pipeline);
    }
    return pipeline;
  }
}

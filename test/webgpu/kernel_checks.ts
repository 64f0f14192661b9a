// Runs in a browser page: the kernel-case table (test/backend/kernel_cases.ts) on the webgpu backend,
// then what only WebGPU has (the sum of squares left in GPU memory) and what it refuses. Bundled by
// test/webgpu/browser.ts.
/// <reference types="@webgpu/types" />
import { refBackend } from '../../src/backend/ref/index.js';
import { createWebGpuBackend, requestWebGpuDevice, type WebGpuBackend } from '../../src/backend/webgpu/index.js';
import { normal, runKernelCases, type KernelCheck } from '../backend/kernel_cases.js';

export type { KernelCheck };

export async function runKernelChecks(): Promise<KernelCheck[]> {
  const gpu = createWebGpuBackend(await requestWebGpuDevice((globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu));
  const results = await runKernelCases(gpu);

  // The sum of squares lands in a GPU buffer (WebGPU has no synchronous read); NaN and Infinity give NaN.
  for (const [label, values] of [['sumOfSquaresInto', normal(100_003)], ['sumOfSquaresInto with Infinity', Float32Array.from(normal(5000), (v, i) => (i === 4321 ? Infinity : v))]] as const) {
    try {
      const expected = refBackend.sumOfSquares(values, values.length);
      const src = gpu.memory.alloc(values.length);
      gpu.memory.upload(src, values);
      const result = gpu.memory.alloc(3);
      gpu.sumOfSquaresInto(src, values.length, result, 2);
      const got = ((await gpu.memory.downloadAsync(result)) as Float32Array)[2]!;
      const ok = Number.isFinite(expected) ? Math.abs(got - expected) <= 1e-4 * expected : Number.isNaN(got);
      results.push({ name: label, ok, detail: `${got} (ref ${expected})` });
    } catch (e) {
      results.push({ name: label, ok: false, detail: `threw: ${(e as Error).message}` });
    }
  }

  await checkRefusals(gpu, results);
  return results;
}

/** What the backend does not do, it refuses by name. */
async function checkRefusals(gpu: WebGpuBackend, results: KernelCheck[]): Promise<void> {
  const refusals: [string, () => unknown, RegExp][] = [
    ['synchronous download', () => gpu.memory.download(gpu.memory.alloc(4)), /readAsync/],
    ['synchronous sum of squares', () => gpu.sumOfSquares(gpu.memory.alloc(4), 4), /sumOfSquaresInto/],
    ['bfloat16 storage', () => gpu.memory.toBf16(gpu.memory.alloc(4)), /bfloat16/],
    ['a tensor past the largest storage buffer', () => gpu.memory.alloc(gpu.device.limits.maxStorageBufferBindingSize / 4 + 1), /passes this GPU's largest storage buffer/],
    ['a host array as a buffer', () => gpu.fill(new Float32Array(4), 0, 4), /host Float32Array/],
    ['an out-of-range cross-entropy target', () => gpu.crossEntropyForward(gpu.memory.alloc(6), Int32Array.from([1, 3]), gpu.memory.alloc(2), gpu.memory.alloc(2), 2, 3, -100), /target 3 at row 1/],
  ];
  for (const [name, run, message] of refusals) {
    let detail = 'did not refuse';
    try {
      run();
    } catch (e) {
      detail = (e as Error).message;
    }
    results.push({ name: `refuses ${name}`, ok: message.test(detail), detail });
  }
  try {
    await gpu.synchronize();
    results.push({ name: 'no GPU validation error during the checks', ok: true, detail: 'none' });
  } catch (e) {
    results.push({ name: 'no GPU validation error during the checks', ok: false, detail: (e as Error).message });
  }
}

(globalThis as { runKernelChecks?: typeof runKernelChecks }).runKernelChecks = runKernelChecks;

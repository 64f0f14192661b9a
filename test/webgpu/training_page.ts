// Runs in a browser page: the tiny training run on the webgpu backend.
/// <reference types="@webgpu/types" />
import { useBackend } from '../../src/backend/index.js';
import { createWebGpuBackend, requestWebGpuDevice } from '../../src/backend/webgpu/index.js';
import { trainTinyLlama, type TinyRun } from './tiny_training.js';

async function trainOnWebGpu(run: TinyRun) {
  const backend = createWebGpuBackend(await requestWebGpuDevice((globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu));
  useBackend(backend);
  const result = await trainTinyLlama(run);
  await backend.synchronize(); // any GPU validation error fails the run
  return result;
}

(globalThis as { trainOnWebGpu?: typeof trainOnWebGpu }).trainOnWebGpu = trainOnWebGpu;

// Backend selection. The native backend is the default when its addon loaded; otherwise giftjs
// runs on `ref` and says why, once. GIFTJS_BACKEND=ref|native overrides the default.
import type { Backend, BackendName } from './backend.js';
import { loadAddon, type NativeAddon } from './native/binding.js';
import { createNativeBackend } from './native/index.js';
import { refBackend } from './ref/index.js';
import { GiftjsError } from '../errors.js';
import { MAX_THREADS } from '../environment.js';

let current: Backend | null = null;
let native: Backend | null | undefined;
let warned = false;

function nativeBackend(): Backend | null {
  if (native === undefined) {
    const { addon } = loadAddon();
    native = addon ? createNativeBackend(addon) : null;
  }
  return native;
}

/** The addon itself (threads, CPU features, kernel choice), or null when it is unavailable. */
export function nativeAddon(): NativeAddon | null {
  return loadAddon().addon;
}

export function isNativeAvailable(): boolean {
  return nativeBackend() !== null;
}

export function getBackend(): Backend {
  if (current) return current;
  const wanted = process.env.GIFTJS_BACKEND;
  if (wanted === 'webgpu') {
    // Its device is found asynchronously, so a program starts it itself (useBackend); the gift
    // command does so for the commands that read GPU memory asynchronously (cli/backend_choice.ts).
    throw new GiftjsError('GIFTJS_BACKEND=webgpu: in a program the webgpu backend is chosen in code, useBackend(createWebGpuBackend(await requestWebGpuDevice(gpu))) with navigator.gpu in a browser or a GPU from the `webgpu` package in Node; in the gift command, gift train takes it (with the `webgpu` package installed)');
  }
  if (wanted && wanted !== 'ref' && wanted !== 'native') {
    throw new GiftjsError(`GIFTJS_BACKEND=${wanted} is not a backend (use ref or native)`);
  }
  if (wanted === 'ref') return (current = refBackend);
  const nb = nativeBackend();
  if (nb) return (current = nb);
  if (!warned) {
    warned = true;
    console.warn(`giftjs: native kernels unavailable, using the much slower TypeScript backend: ${loadAddon().error}`);
  }
  return (current = refBackend);
}

/** Switches backend for everything that follows; throws if `native` is not available. */
export function setBackend(name: BackendName): void {
  if (name === 'ref') {
    current = refBackend;
    return;
  }
  const nb = nativeBackend();
  if (!nb) throw new GiftjsError(`setBackend('native'): ${loadAddon().error}`);
  current = nb;
}

/** Installs a Backend object directly: the webgpu backend (it is made asynchronously), a wrapped or instrumented one. */
export function useBackend(backend: Backend): void {
  current = backend;
}

/** Runs fn with the given backend, then restores the previous one. */
export function withBackend<T>(backend: BackendName | Backend, fn: () => T): T {
  const previous = getBackend();
  if (typeof backend === 'string') setBackend(backend);
  else current = backend;
  try {
    return fn();
  } finally {
    current = previous;
  }
}

/** withBackend for asynchronous work: the backend stays chosen until fn's promise settles. */
export async function withBackendAsync<T>(backend: BackendName | Backend, fn: () => Promise<T>): Promise<T> {
  const previous = getBackend();
  if (typeof backend === 'string') setBackend(backend);
  else current = backend;
  try {
    return await fn();
  } finally {
    current = previous;
  }
}

/**
 * The current backend's products on bf16 dot products (Backend.setBf16Compute): the activations are
 * rounded to bf16 too, products accumulate in float32 (AVX-512 BF16 on the native backend, emulated
 * exactly by ref). Returns whether the CPU's instructions run them; turning it on is refused on a
 * backend that computes in float32 only.
 */
export function setBf16Compute(on: boolean): boolean {
  const backend = getBackend();
  if (backend.setBf16Compute) return backend.setBf16Compute(on);
  if (on) throw new GiftjsError(`bf16 compute: the ${backend.name} backend computes in float32 only (train without --bf16)`);
  return false;
}

/**
 * The current backend's decoding products over quantized weights with int8 activations, as
 * llama.cpp computes them (Backend.setInt8Activations); turning it on is refused on a backend
 * without quantized weights.
 */
export function setInt8Activations(on: boolean): boolean {
  const backend = getBackend();
  if (backend.setInt8Activations) return backend.setInt8Activations(on);
  if (on) throw new GiftjsError(`int8 activations: the ${backend.name} backend has no quantized weights (leave out --int8-activations)`);
  return false;
}

export { MAX_THREADS };

/** Threads used by native kernels (the ref backend is single-threaded): 1 to MAX_THREADS. */
export function setNumThreads(n: number): void {
  // (The addon took NaN and -1 as 1 and 2.5 as 2, silently, and 1e9 ended the process.)
  if (!(Number.isInteger(n) && n >= 1 && n <= MAX_THREADS)) throw new GiftjsError(`setNumThreads: the thread count must be a whole number from 1 to ${MAX_THREADS}, got ${n}`);
  nativeAddon()?.setThreads(n);
}

export function getNumThreads(): number {
  return nativeAddon()?.getThreads() ?? 1;
}

export { refBackend };
export type { Backend, BackendName };

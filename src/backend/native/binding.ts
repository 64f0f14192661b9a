// Loads the compiled addon (build/Release/giftjs_native.node) if `npm install` built it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { AttentionShape } from '../backend.js';

type F = Float32Array;

/** The functions native/addon.cpp exports. */
export interface NativeAddon {
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: F, lda: number, B: F | Uint16Array, ldb: number, beta: number, C: F, ldc: number, batch: number, strideA: number, strideB: number, strideC: number): void;
  setThreads(n: number): void;
  getThreads(): number;
  setGemmKernel(name: string | null): boolean;
  setBf16Compute(on: boolean): boolean;
  cpuInfo(): { gemmKernel: string; gemmKernels: string[]; tile: string; threads: number; features: string[] };
  rmsNormForward(x: F, w: F, y: F, rstd: F, rows: number, cols: number, eps: number): void;
  rmsNormBackward(x: F, w: F, rstd: F, dy: F, dx: F | null, dw: F | null, rows: number, cols: number): void;
  layerNormForward(x: F, w: F | null, b: F | null, y: F, mean: F, rstd: F, rows: number, cols: number, eps: number): void;
  layerNormBackward(x: F, w: F | null, mean: F, rstd: F, dy: F, dx: F | null, dw: F | null, db: F | null, unused: null, rows: number, cols: number): void;
  softmaxForward(x: F, y: F, rows: number, cols: number): void;
  softmaxBackward(y: F, dy: F, dx: F, rows: number, cols: number): void;
  logSoftmaxForward(x: F, y: F, rows: number, cols: number): void;
  logSoftmaxBackward(y: F, dy: F, dx: F, rows: number, cols: number): void;
  crossEntropyForward(logits: F, targets: Int32Array, loss: F, lse: F, rows: number, vocab: number, ignoreIndex: number): void;
  crossEntropyBackward(logits: F, targets: Int32Array, lse: F, rowScale: F, dlogits: F, rows: number, vocab: number, ignoreIndex: number): void;
  attentionForward(s: AttentionShape, q: F, k: F, v: F, keyMask: F | null, out: F, lse: F): void;
  attentionBackward(s: AttentionShape, q: F, k: F, v: F, keyMask: F | null, out: F, lse: F, dout: F, dq: F | null, dk: F | null, dv: F | null): void;
  activationForward(kind: number, x: F, y: F, n: number): void;
  activationBackward(kind: number, x: F, dy: F, dx: F, n: number): void;
  swigluForward(gate: F, up: F, y: F, n: number): void;
  swigluBackward(gate: F, up: F, dy: F, dgate: F | null, dup: F | null, n: number): void;
  binary(op: number, shape: readonly number[], a: F, aStrides: readonly number[], b: F, bStrides: readonly number[], out: F): void;
  copyStrided(shape: readonly number[], src: F, srcStrides: readonly number[], dst: F): void;
  ropeRotate(src: F, dst: F, cos: F, sin: F, rows: number, T: number, D: number, direction: number): void;
}

/** Where `npm install` puts the addon; GIFTJS_NATIVE_ADDON points elsewhere (a custom build). */
export const addonPath = process.env.GIFTJS_NATIVE_ADDON ?? fileURLToPath(new URL('../../../../build/Release/giftjs_native.node', import.meta.url));

let cached: { addon: NativeAddon | null; error: string | null } | null = null;

/** The addon, or null with the reason it could not be loaded. */
export function loadAddon(): { addon: NativeAddon | null; error: string | null } {
  if (cached) return cached;
  if (!existsSync(addonPath)) {
    cached = { addon: null, error: `${addonPath} does not exist (the native build did not run or failed)` };
  } else {
    try {
      cached = { addon: createRequire(import.meta.url)(addonPath) as NativeAddon, error: null };
    } catch (err) {
      cached = { addon: null, error: `${addonPath} failed to load: ${(err as Error).message}` };
    }
  }
  return cached;
}

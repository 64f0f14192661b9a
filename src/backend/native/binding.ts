// Loads the native kernels: a source build (build/Release, made by scripts/build-native.mjs) or the
// prebuilt addon the npm package ships for its platform (prebuilds/<platform>-<arch>/), so that
// installing giftjs needs neither a compiler nor an install script.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AttentionShape } from '../backend.js';

type F = Float32Array;

/** The functions native/addon.cpp exports. */
export interface NativeAddon {
  /** A private, copy-on-write mapping of `length` bytes of the file from `offset` (native/io/file_map.cpp). */
  mapFile(path: string, offset: number, length: number): ArrayBuffer;
  /** Zeroed memory mapped on transparent huge pages where the kernel gives them (native/io/file_map.cpp). */
  mapAnonymous(length: number): ArrayBuffer;
  /** Drops this process's pages of a never-written mapped file range (they stay in the page cache); false when none was whole. */
  releaseMappedPages?(view: ArrayBufferView): boolean;
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: F, lda: number, B: F | Uint16Array, ldb: number, beta: number, C: F, ldc: number, batch: number, strideA: number, strideB: number, strideC: number): void;
  /** One GEMM whose B is a quantized matrix [rows, cols] (native/gemm/quantized.h); op(B) is all of it. */
  gemmQuantized(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: F, lda: number, codes: Uint8Array, scales: Uint16Array, bits: number, rows: number, cols: number, group: number, beta: number, C: F, ldc: number): void;
  /** GGUF Q8_0 / Q4_0 blocks (a half d, then codeBytes of codes) into a quantized matrix's codes and scales from those offsets (native/gemm/quantized.h). */
  splitBlocks?(blocks: Uint8Array, count: number, codeBytes: number, codes: Uint8Array, codesOffset: number, scales: Uint16Array, scalesOffset: number): void;
  /** Quantizes float32 values or bfloat16 bits into codes and scales; false when a value or scale cannot be held. */
  quantizeRows(values: F | Uint16Array, codes: Uint8Array, scales: Uint16Array, bits: number, rows: number, cols: number, group: number): boolean;
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

/** The installation's root, found when asked (a browser bundle never asks, and has no file URL). */
const packageRoot = () => fileURLToPath(new URL('../../../../', import.meta.url));

/** Where the addon is looked for, in order: GIFTJS_NATIVE_ADDON, a source build, the prebuilt one the package ships. */
export function addonCandidates(): string[] {
  if (process.env.GIFTJS_NATIVE_ADDON) return [process.env.GIFTJS_NATIVE_ADDON];
  return [join(packageRoot(), 'build', 'Release', 'giftjs_native.node'), join(packageRoot(), 'prebuilds', `${process.platform}-${process.arch}`, 'giftjs_native.node')];
}

/** The command that builds the kernels from source (a C++17 compiler and Python 3 needed). */
export const buildCommand = () => `node ${join(packageRoot(), 'scripts', 'build-native.mjs')}`;

let cached: { addon: NativeAddon | null; error: string | null; path: string | null } | null = null;

/** The addon, or null with the reason it could not be loaded (and what to run about it). */
export function loadAddon(): { addon: NativeAddon | null; error: string | null; path: string | null } {
  if (cached) return cached;
  const failures: string[] = [];
  for (const path of addonCandidates()) {
    if (!existsSync(path)) {
      if (process.env.GIFTJS_NATIVE_ADDON) failures.push(`${path} (GIFTJS_NATIVE_ADDON) does not exist`);
      continue;
    }
    try {
      return (cached = { addon: createRequire(import.meta.url)(path) as NativeAddon, error: null, path });
    } catch (err) {
      failures.push(`${path} failed to load: ${(err as Error).message}`);
    }
  }
  const why = failures.length > 0 ? failures.join('; ') : `no native kernels for ${process.platform}-${process.arch} in this installation`;
  return (cached = { addon: null, error: `${why}. Build them with \`${buildCommand()}\` (needs a C++17 compiler and Python 3), or set GIFTJS_BACKEND=ref to choose the TypeScript backend`, path: null });
}

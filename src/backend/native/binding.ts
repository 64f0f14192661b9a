// Loads the native kernels: a source build (build/Release, made by scripts/build-native.mjs) or the
// prebuilt addon the npm package ships for its platform (prebuilds/<platform>-<arch>/), so that
// installing giftjs needs neither a compiler nor an install script.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../backend.js';
import { QuantizedMatrix } from '../../formats/quantized.js';
import { GiftjsError } from '../../errors.js';
import { checkThreadCount } from '../../environment.js';

/**
 * The kernels the addon implements with the Backend's own signatures (argument objects included:
 * gemm takes GemmArgs, quantize the QuantizedMatrix it fills), so the native backend hands them on
 * unchanged and their signatures are declared once, in backend.ts.
 */
export const ADDON_KERNELS = [
  'gemm', 'quantize', 'rmsNormForward', 'rmsNormBackward', 'layerNormForward', 'layerNormBackward',
  'softmaxForward', 'softmaxBackward', 'logSoftmaxForward', 'logSoftmaxBackward', 'crossEntropyForward', 'crossEntropyBackward',
  'attentionForward', 'attentionBackward', 'activationForward', 'activationBackward', 'swigluForward', 'swigluBackward', 'dropoutMultiply', 'ropeRotate',
  'reduceSum', 'adamwUpdate', 'sumOfSquares', 'scaleInPlace',
] as const;
export type AddonKernels = Required<Pick<Backend<Float32Array>, (typeof ADDON_KERNELS)[number]>>;

/** The addon as giftjs uses it: the kernels above, and what is not a Backend method. */
export interface NativeAddon extends AddonKernels {
  /** A private, copy-on-write mapping of `length` bytes of the file from `offset` (native/io/file_map.cpp). */
  mapFile(path: string, offset: number, length: number): ArrayBuffer;
  /** Drops this process's pages of a never-written mapped file range (they stay in the page cache); false when none was whole. */
  releaseMappedPages?(view: ArrayBufferView): boolean;
  /** Transparent huge pages asked for under a new buffer before its first write (native/runtime/huge_pages.cpp); false where refused. */
  adviseHugePages?(view: ArrayBufferView): boolean;
  /** Gives the whole pages inside a view of anonymous memory back to the system now; it then reads zeros (native/runtime/discard_pages.cpp). */
  discardPages?(view: ArrayBufferView): boolean;
  /** GGUF Q8_0 / Q4_0 blocks (a half d, then codeBytes of codes) into a quantized matrix's codes and scales from those offsets (native/gemm/quantized.h). */
  splitBlocks?(blocks: Uint8Array, count: number, codeBytes: number, codes: Uint8Array, codesOffset: number, scales: Uint16Array, scalesOffset: number): void;
  setThreads(n: number): void;
  getThreads(): number;
  setGemmKernel(name: string | null): boolean;
  setBf16Compute(on: boolean): boolean;
  /** Forces bf16 compute's kernel ('amxbf16', 'avx512bf16', 'amxbf16-reference'); false where the CPU cannot run it; null: automatic. */
  setBf16Kernel(name: string | null): boolean;
  setInt8Activations(on: boolean): boolean;
  cpuInfo(): { gemmKernel: string; gemmKernels: string[]; tile: string; threads: number; features: string[]; bf16Kernel: string | null };
  /** The machine's limits on the pool's threads (native/runtime/peak.h): FMA chains for about `seconds`, a stream of `streamBytes`. */
  measurePeak?(seconds: number, streamBytes: number): { f32Gflops: number; bf16Gflops: number | null; amxGflops: number | null; streamGBs: number; firstTouchGBs: number; threads: number; isa: string };
  measureStream?(streamBytes: number): number;
  /** Shapes of up to 8 dimensions (higher ranks run on the TypeScript kernels). */
  binary: Backend<Float32Array>['binary'];
  copyStrided: Backend<Float32Array>['copyStrided'];
}

type F = Float32Array;

/**
 * What native/addon.cpp exports for the products and the quantizer: their fields one by one, which
 * only addonOf below calls (Node-API reads positional arguments four times faster than an object's
 * fields, and a small model's decoding makes a GEMM call per linear layer per token).
 */
interface PositionalKernels {
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: F, lda: number, B: F | Uint16Array, ldb: number, beta: number, C: F, ldc: number, batch: number, strideA: number, strideB: number, strideC: number): void;
  gemmQuantized(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: F, lda: number, codes: Uint8Array, scales: Uint16Array, bits: number, rows: number, cols: number, group: number, beta: number, C: F, ldc: number, interleaved: boolean): void;
  quantizeRows(values: F | Uint16Array, codes: Uint8Array, scales: Uint16Array, bits: number, rows: number, cols: number, group: number): boolean;
}
type LoadedAddon = Omit<NativeAddon, 'gemm' | 'quantize'> & PositionalKernels;

/** The loaded module with gemm and quantize taking the Backend's argument objects. */
function addonOf(loaded: LoadedAddon): NativeAddon {
  const { gemm, gemmQuantized, quantizeRows, ...rest } = loaded;
  return {
    ...rest,
    gemm: (a) => {
      if (a.B instanceof QuantizedMatrix) {
        const w = a.B;
        if (a.batch !== 1 || a.offsetB) throw new GiftjsError('native gemm: a quantized B is one whole matrix, never batched or offset');
        gemmQuantized(a.transA, a.transB, a.M, a.N, a.K, a.alpha, at(a.A, a.offsetA), a.lda, w.codes, w.scales, w.bits, w.rows, w.cols, w.group, a.beta, a.C, a.ldc, w.interleaved);
      } else {
        gemm(a.transA, a.transB, a.M, a.N, a.K, a.alpha, at(a.A, a.offsetA), a.lda, at(a.B, a.offsetB), a.ldb, a.beta, a.C, a.ldc, a.batch, a.strideA, a.strideB, a.strideC);
      }
    },
    quantize: (values, q) => {
      if (q.interleaved) throw new GiftjsError('native quantize: a matrix of GGUF blocks as stored is read, never quantized into');
      return quantizeRows(values, q.codes, q.scales, q.bits, q.rows, q.cols, q.group);
    },
  };
}

/** A host buffer seen from `offset` elements on (a GEMM operand that starts inside a larger tensor). */
export function at<T extends Float32Array | Uint16Array>(buffer: T, offset: number | undefined): T {
  return offset ? (buffer.subarray(offset) as T) : buffer;
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
  checkThreadCount(); // the kernels read it with atoi, which takes 'four' for 0 (one thread) and '8x' for 8
  const failures: string[] = [];
  for (const path of addonCandidates()) {
    if (!existsSync(path)) {
      if (process.env.GIFTJS_NATIVE_ADDON) failures.push(`${path} (GIFTJS_NATIVE_ADDON) does not exist`);
      continue;
    }
    try {
      return (cached = { addon: addonOf(createRequire(import.meta.url)(path) as LoadedAddon), error: null, path });
    } catch (err) {
      failures.push(`${path} failed to load: ${(err as Error).message}`);
    }
  }
  const why = failures.length > 0 ? failures.join('; ') : `no native kernels for ${process.platform}-${process.arch} in this installation`;
  return (cached = { addon: null, error: `${why}. Build them with \`${buildCommand()}\` (needs a C++17 compiler and Python 3), or set GIFTJS_BACKEND=ref to choose the TypeScript backend`, path: null });
}

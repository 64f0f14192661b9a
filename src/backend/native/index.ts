// The `native` backend: every kernel in C++ (native/), called through N-API.
import type { Backend } from '../backend.js';
import { ADDON_KERNELS, at, type AddonKernels, type NativeAddon } from './binding.js';
import { hostMemory } from '../host_memory.js';
import { refBinary, refCopyStrided } from '../ref/elementwise.js';
import { hostBookkeeping } from '../ref/index.js';
import { refCopyBlocks, refReduceSum } from '../ref/memory_ops.js';

/** The addon's strided kernels take up to this many dimensions; higher ranks (rare) run on ref. */
const MAX_NATIVE_RANK = 8;

export function createNativeBackend(addon: NativeAddon): Backend<Float32Array> {
  return {
    name: 'native',
    memory: hostMemory,
    // The TypeScript bookkeeping kernels, replaced by the addon's where it has them (AdamW, sums of
    // squares, scaling; reduceSum and copyBlocks below).
    ...hostBookkeeping(),
    ...addonKernels(addon),
    binary: (op, shape, a, as, b, bs, out) =>
      shape.length > MAX_NATIVE_RANK ? refBinary(op, shape, a, as, b, bs, out) : addon.binary(op, shape, a, as, b, bs, out),
    copyStrided: (shape, src, ss, dst) =>
      shape.length > MAX_NATIVE_RANK ? refCopyStrided(shape, src, ss, dst) : addon.copyStrided(shape, src, ss, dst),
    setBf16Compute: (on) => addon.setBf16Compute(on),
    setInt8Activations: (on) => addon.setInt8Activations(on),
    reduceSum: (shape, src, outStrides, out, scale) =>
      shape.length > MAX_NATIVE_RANK ? refReduceSum(shape, src, outStrides, out, scale) : addon.reduceSum(shape, src, outStrides, out, scale),
    copyBlocks: (src, srcOffset, srcStride, dst, dstOffset, dstStride, blocks, blockLength) =>
      copyBlocksThreaded(addon, src, srcOffset, srcStride, dst, dstOffset, dstStride, blocks, blockLength),
  };
}

/** Rows of the threaded copy a contiguous run is cut into. */
const COPY_ROW = 4096;

/**
 * copyBlocks with a contiguous run (clone, one block, or back-to-back blocks) of a few hundred KB
 * or more copied by the threaded strided copy: on one thread, TypedArray.set took ~1 ms for the
 * 2.4 MB clone in every GIFT-edited layer's forward (addmm starts from a copy of x), about 2% of
 * the SmolLM2 step. Anything else keeps the reference loop.
 */
function copyBlocksThreaded(addon: NativeAddon, src: Float32Array, srcOffset: number, srcStride: number, dst: Float32Array, dstOffset: number,
  dstStride: number, blocks: number, blockLength: number): void {
  const total = blocks * blockLength;
  const contiguous = blocks === 1 || (srcStride === blockLength && dstStride === blockLength);
  // (The same ArrayBuffer on both sides may overlap: TypedArray.set copies as memmove does.)
  if (!contiguous || total < 16 * COPY_ROW || src.buffer === dst.buffer) {
    refCopyBlocks(src, srcOffset, srcStride, dst, dstOffset, dstStride, blocks, blockLength);
    return;
  }
  const rows = Math.floor(total / COPY_ROW);
  const main = rows * COPY_ROW;
  addon.copyStrided([rows, COPY_ROW], at(src, srcOffset), [COPY_ROW, 1], at(dst, dstOffset));
  if (main < total) dst.set(src.subarray(srcOffset + main, srcOffset + total), dstOffset + main);
}

/** The kernels the addon implements with the Backend's signatures, as they are. */
function addonKernels(addon: NativeAddon): AddonKernels {
  return Object.fromEntries(ADDON_KERNELS.map((name) => [name, addon[name]])) as unknown as AddonKernels;
}

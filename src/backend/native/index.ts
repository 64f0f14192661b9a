// The `native` backend: every kernel in C++ (native/), called through N-API.
import type { Backend } from '../backend.js';
import type { NativeAddon } from './binding.js';
import { ActivationKind } from '../backend.js';
import { hostMemory } from '../host_memory.js';
import { refActivationBackward, refActivationForward } from '../ref/activations.js';
import { refBinary, refCopyStrided } from '../ref/elementwise.js';
import { hostBookkeeping } from '../ref/index.js';
import { refCopyBlocks } from '../ref/memory_ops.js';
import { QuantizedMatrix } from '../../tensor/quantized.js';
import { GiftjsError } from '../../errors.js';
import type { GemmArgs } from '../backend.js';

/** The addon's strided kernels take up to this many dimensions; higher ranks (rare) run on ref. */
const MAX_NATIVE_RANK = 8;

export function createNativeBackend(addon: NativeAddon): Backend<Float32Array> {
  return {
    name: 'native',
    memory: hostMemory,
    gemm: (a) =>
      a.B instanceof QuantizedMatrix
        ? gemmQuantized(addon, a, a.B)
        : addon.gemm(a.transA, a.transB, a.M, a.N, a.K, a.alpha, at(a.A, a.offsetA), a.lda, at(a.B, a.offsetB), a.ldb, a.beta, a.C, a.ldc, a.batch, a.strideA, a.strideB, a.strideC),
    rmsNormForward: (x, w, y, rstd, rows, cols, eps) => addon.rmsNormForward(x, w, y, rstd, rows, cols, eps),
    rmsNormBackward: (x, w, rstd, dy, dx, dw, rows, cols) => addon.rmsNormBackward(x, w, rstd, dy, dx, dw, rows, cols),
    layerNormForward: (x, w, b, y, mean, rstd, rows, cols, eps) => addon.layerNormForward(x, w, b, y, mean, rstd, rows, cols, eps),
    layerNormBackward: (x, w, mean, rstd, dy, dx, dw, db, rows, cols) =>
      addon.layerNormBackward(x, w, mean, rstd, dy, dx, dw, db, null, rows, cols),
    softmaxForward: (x, y, rows, cols) => addon.softmaxForward(x, y, rows, cols),
    softmaxBackward: (y, dy, dx, rows, cols) => addon.softmaxBackward(y, dy, dx, rows, cols),
    logSoftmaxForward: (x, y, rows, cols) => addon.logSoftmaxForward(x, y, rows, cols),
    logSoftmaxBackward: (y, dy, dx, rows, cols) => addon.logSoftmaxBackward(y, dy, dx, rows, cols),
    crossEntropyForward: (logits, t, loss, lse, rows, vocab, ignore) => addon.crossEntropyForward(logits, t, loss, lse, rows, vocab, ignore),
    crossEntropyBackward: (logits, t, lse, scale, d, rows, vocab, ignore) =>
      addon.crossEntropyBackward(logits, t, lse, scale, d, rows, vocab, ignore),
    attentionForward: (s, q, k, v, mask, out, lse) => addon.attentionForward(s, q, k, v, mask, out, lse),
    attentionBackward: (s, q, k, v, mask, out, lse, dout, dq, dk, dv) =>
      addon.attentionBackward(s, q, k, v, mask, out, lse, dout, dq, dk, dv),
    // ReLU and tanh (BERT's pooler, small encoders) are rare enough for the TypeScript kernel.
    activationForward: (kind, x, y, n) =>
      kind >= ActivationKind.Relu ? refActivationForward(kind, x, y, n) : addon.activationForward(kind, x, y, n),
    activationBackward: (kind, x, dy, dx, n) =>
      kind >= ActivationKind.Relu ? refActivationBackward(kind, x, dy, dx, n) : addon.activationBackward(kind, x, dy, dx, n),
    swigluForward: (gate, up, y, n) => addon.swigluForward(gate, up, y, n),
    swigluBackward: (gate, up, dy, dgate, dup, n) => addon.swigluBackward(gate, up, dy, dgate, dup, n),
    binary: (op, shape, a, as, b, bs, out) =>
      shape.length > MAX_NATIVE_RANK ? refBinary(op, shape, a, as, b, bs, out) : addon.binary(op, shape, a, as, b, bs, out),
    copyStrided: (shape, src, ss, dst) =>
      shape.length > MAX_NATIVE_RANK ? refCopyStrided(shape, src, ss, dst) : addon.copyStrided(shape, src, ss, dst),
    ropeRotate: (src, dst, cos, sin, rows, T, D, direction) => addon.ropeRotate(src, dst, cos, sin, rows, T, D, direction),
    ...hostBookkeeping(),
    quantize: (values, q) => addon.quantizeRows(values, q.codes, q.scales, q.bits, q.rows, q.cols, q.group),
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

/** A host buffer seen from `offset` elements on (a GEMM operand that starts inside a larger tensor). */
function at<T extends Float32Array | Uint16Array>(buffer: T, offset: number | undefined): T {
  return offset ? (buffer.subarray(offset) as T) : buffer;
}

/** A GEMM whose B is a quantized weight: one problem over the whole matrix (linear's products). */
function gemmQuantized(addon: NativeAddon, a: GemmArgs<Float32Array>, w: QuantizedMatrix): void {
  if (a.batch !== 1 || a.offsetB) throw new GiftjsError('native gemm: a quantized B is one whole matrix, never batched or offset');
  addon.gemmQuantized(a.transA, a.transB, a.M, a.N, a.K, a.alpha, at(a.A, a.offsetA), a.lda, w.codes, w.scales, w.bits, w.rows, w.cols, w.group, a.beta, a.C, a.ldc);
}

// Reference kernels for the data movement and bookkeeping around a step: fill, block copies,
// embedding gather / scatter-add, reductions, and the optimizer's update. They are also the CPU
// kernels of the native backend: none of them is in a step's hot path (the profile puts each well
// under 1%), and all of them are memory-bound loops that V8 compiles to tight code.
import type { AdamWStep } from '../backend.js';
import { forEachRow } from './elementwise.js';
import { QuantizedMatrix } from '../../formats/quantized.js';

type F = Float32Array;

export function refFill(buffer: F, value: number, n: number): void {
  buffer.fill(value, 0, n);
}

/** Blocks at most this long are copied value by value: a subarray per block is an object for the garbage collector. */
const SHORT_BLOCK = 256;

export function refCopyBlocks(src: F, srcOffset: number, srcStride: number, dst: F, dstOffset: number, dstStride: number, blocks: number, blockLength: number): void {
  // (Within one buffer the blocks may overlap: set copies each as memmove does.)
  if (blockLength <= SHORT_BLOCK && src.buffer !== dst.buffer) {
    // A decoded token appends its keys and values to the cache as one short block per head.
    for (let i = 0; i < blocks; i++) {
      const from = srcOffset + i * srcStride;
      const to = dstOffset + i * dstStride;
      for (let j = 0; j < blockLength; j++) dst[to + j] = src[from + j]!;
    }
    return;
  }
  for (let i = 0; i < blocks; i++) {
    const from = srcOffset + i * srcStride;
    dst.set(src.subarray(from, from + blockLength), dstOffset + i * dstStride);
  }
}

export function refGatherRows(table: F | Uint16Array | QuantizedMatrix, ids: Int32Array, out: F, dim: number): void {
  if (table instanceof QuantizedMatrix) {
    for (let i = 0; i < ids.length; i++) table.dequantizeRow(ids[i]!, 0, dim, out, i * dim);
    return;
  }
  if (table instanceof Uint16Array) {
    const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < ids.length; i++) {
      const from = ids[i]! * dim;
      for (let j = 0; j < dim; j++) outBits[i * dim + j] = table[from + j]! << 16; // bf16 -> float32 bits
    }
    return;
  }
  for (let i = 0; i < ids.length; i++) out.set(table.subarray(ids[i]! * dim, (ids[i]! + 1) * dim), i * dim);
}

export function refScatterAddRows(g: F, ids: Int32Array, dtable: F, dim: number): void {
  for (let i = 0; i < ids.length; i++) {
    const o = ids[i]! * dim;
    for (let j = 0; j < dim; j++) dtable[o + j]! += g[i * dim + j]!;
  }
}

export function refReduceSum(shape: readonly number[], src: F, outStrides: readonly number[], out: F, scale: number): void {
  const rank = shape.length;
  const last = rank === 0 ? 1 : shape[rank - 1]!;
  const sl = rank === 0 ? 0 : outStrides[rank - 1]!;
  const acc = new Float64Array(out.length);
  forEachRow(shape, [outStrides], (o, [io]) => {
    for (let j = 0; j < last; j++) acc[io! + j * sl]! += src[o + j]!;
  });
  for (let i = 0; i < out.length; i++) out[i] = acc[i]! * scale;
}

/** Values per block of the sum of squares (native/kernels/kernels.h kSquaresBlock). */
const SQUARES_BLOCK = 4096;

/**
 * The sum of squares in float64, in the order the native kernel takes (native/kernels/sum_of_squares.cpp),
 * so that both backends give the same bits: blocks of SQUARES_BLOCK values, each over 8 lanes (lane l
 * takes values l, l + 8, ... of its block), the lanes combined as (l, l + 4), (l, l + 2), (l, l + 1),
 * the blocks' sums added in order.
 */
export function refSumOfSquares(buffer: F, n: number): number {
  let total = 0;
  const lanes = new Float64Array(8);
  for (let from = 0; from < n; from += SQUARES_BLOCK) {
    lanes.fill(0);
    const to = Math.min(n, from + SQUARES_BLOCK);
    for (let i = from; i < to; i++) lanes[(i - from) & 7]! += buffer[i]! * buffer[i]!;
    for (let width = 4; width > 0; width >>= 1) for (let l = 0; l < width; l++) lanes[l]! += lanes[l + width]!;
    total += lanes[0]!;
  }
  return total;
}

export function refScaleInPlace(buffer: F, s: number, n: number): void {
  for (let i = 0; i < n; i++) buffer[i]! *= s;
}

/** AdamW (decoupled weight decay, as torch.optim.AdamW): each value computed in float64, stored as float32. */
export function refAdamwUpdate(w: F, grad: F, m: F, v: F, n: number, s: AdamWStep): void {
  const { beta1, beta2, eps, decay, stepSize, sqrtBc2 } = s;
  for (let i = 0; i < n; i++) {
    const gi = grad[i]!;
    const mi = (m[i] = beta1 * m[i]! + (1 - beta1) * gi);
    const vi = (v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi);
    w[i] = w[i]! * decay - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
  }
}

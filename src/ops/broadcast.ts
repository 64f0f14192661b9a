// Broadcasting helpers shared by the elementwise ops and their backward passes.
import { sameShape, sizeOf, stridesOf, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { getBackend } from '../backend/index.js';

/** Strides of `shape` read as if it had `outShape` (0 along broadcast dimensions). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const own = stridesOf(shape);
  const offset = outShape.length - shape.length;
  return outShape.map((_, i) => {
    const j = i - offset;
    return j < 0 || shape[j] === 1 ? 0 : own[j]!;
  });
}

/**
 * Calls fn(outIndex, aIndex, bIndex) for every element of outShape, where aIndex and bIndex are
 * the flat positions in two operands broadcast to that shape.
 */
export function forEachBroadcast(outShape: Shape, aStrides: number[], bStrides: number[], fn: (o: number, ia: number, ib: number) => void): void {
  const rank = outShape.length;
  const total = sizeOf(outShape);
  if (rank === 0) {
    if (total === 1) fn(0, 0, 0);
    return;
  }
  const last = outShape[rank - 1]!;
  const sa = aStrides[rank - 1]!;
  const sb = bStrides[rank - 1]!;
  const counter = new Array<number>(rank - 1).fill(0);
  let ia = 0;
  let ib = 0;
  for (let o = 0; o < total; o += last) {
    for (let j = 0; j < last; j++) fn(o + j, ia + j * sa, ib + j * sb);
    // advance the odometer over the leading dimensions
    for (let d = rank - 2; d >= 0; d--) {
      counter[d]!++;
      ia += aStrides[d]!;
      ib += bStrides[d]!;
      if (counter[d]! < outShape[d]!) break;
      ia -= aStrides[d]! * outShape[d]!;
      ib -= bStrides[d]! * outShape[d]!;
      counter[d] = 0;
    }
  }
}

/** Sums g (of a broadcast shape) down to `shape`: the backward of broadcasting. */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const out = Tensor.zeros(shape);
  const od = out.data;
  const gd = g.data;
  forEachBroadcast(g.shape, broadcastStrides(shape, g.shape), broadcastStrides(g.shape, g.shape), (o, io) => {
    od[io]! += gd[o]!;
  });
  return out;
}

/** Copies x to a larger broadcast shape. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const out = Tensor.empty(shape);
  getBackend().copyStrided(shape, x.data, broadcastStrides(x.shape, shape), out.data);
  return out;
}

// Broadcasting helpers shared by the elementwise ops and their backward passes.
import { sameShape, shapeString, stridesOf, type Shape } from '../tensor/shape.js';
import { GiftjsError } from '../errors.js';
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

// `small` broadcasts to `large`: aligned from the last dimension, each of its dimensions is large's or 1.
// (sumToShape of [2, 3] to [4] had summed into a fourth value of 0, and broadcastTo failed in its kernel.)
function assertBroadcastsTo(small: Shape, large: Shape, op: string): void {
  const offset = large.length - small.length;
  if (offset < 0 || small.some((d, j) => d !== 1 && d !== large[j + offset])) {
    throw new GiftjsError(`${op}: ${shapeString(small)} does not broadcast to ${shapeString(large)}`);
  }
}

/** Sums g (of a broadcast shape) down to `shape`: the backward of broadcasting. */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  assertBroadcastsTo(shape, g.shape, 'sumToShape');
  const out = Tensor.empty(shape);
  getBackend().reduceSum(g.shape, g.buffer, broadcastStrides(shape, g.shape), out.buffer, 1);
  return out;
}

/** Copies x to a larger broadcast shape. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  if (sameShape(x.shape, shape)) return x;
  assertBroadcastsTo(x.shape, shape, 'broadcastTo');
  const out = Tensor.empty(shape);
  getBackend().copyStrided(shape, x.buffer, broadcastStrides(x.shape, shape), out.buffer);
  return out;
}

// Reductions over axes: sum and mean, with or without keeping the reduced dimensions.
import { record } from '../tensor/autograd.js';
import { normalizeAxis } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { GiftjsError } from '../errors.js';
import { getBackend } from '../backend/index.js';
import { broadcastStrides } from './broadcast.js';

function reducedShape(shape: readonly number[], axes: Set<number>): number[] {
  return shape.map((d, i) => (axes.has(i) ? 1 : d));
}

function resolveAxes(x: Tensor, axes: number | readonly number[] | undefined, op: string): Set<number> {
  if (axes === undefined) return new Set(x.shape.map((_, i) => i));
  const list = typeof axes === 'number' ? [axes] : axes;
  const set = new Set(list.map((a) => normalizeAxis(a, x.rank, op)));
  // As torch refuses it: an axis named twice ([0, 0], or 1 and -1 of a rank-2 tensor) is a mistake, not one axis.
  if (set.size !== list.length) throw new GiftjsError(`${op}: axes [${list.join(', ')}] name an axis twice`);
  return set;
}

function reduce(op: string, x: Tensor, axes: number | readonly number[] | undefined, keepDims: boolean, factor: (count: number) => number): Tensor {
  const ax = resolveAxes(x, axes, op);
  const kept = reducedShape(x.shape, ax);
  const count = x.size / Math.max(1, kept.reduce((a, b) => a * b, 1));
  const f = factor(count);
  const outShape = keepDims ? kept : x.shape.filter((_, i) => !ax.has(i));
  const out = Tensor.empty(outShape);
  getBackend().reduceSum(x.shape, x.buffer, broadcastStrides(kept, x.shape), out.buffer, f);
  return record(op, out, [x], (g) => {
    const gk = g.view(kept);
    const dx = Tensor.empty(x.shape);
    getBackend().copyStrided(x.shape, gk.buffer, broadcastStrides(kept, x.shape), dx.buffer);
    if (f !== 1) getBackend().scaleInPlace(dx.buffer, f, dx.size);
    gk.dispose();
    return [dx];
  });
}

/** Sum over the given axes (all when omitted). */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduce('sum', x, axes, keepDims, () => 1);
}

/** Mean over the given axes (all when omitted). */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduce('mean', x, axes, keepDims, (n) => 1 / n);
}

/** Whether every value is finite (no NaN, no infinity): the float64 sum of squares is finite exactly then. */
export function allFinite(x: Tensor): boolean {
  return Number.isFinite(getBackend().sumOfSquares(x.buffer, x.size));
}

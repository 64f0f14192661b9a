// Reductions over axes: sum and mean, with or without keeping the reduced dimensions.
import { record } from '../tensor/autograd.js';
import { normalizeAxis } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastStrides, forEachBroadcast, broadcastTo } from './broadcast.js';

function reducedShape(shape: readonly number[], axes: Set<number>): number[] {
  return shape.map((d, i) => (axes.has(i) ? 1 : d));
}

function resolveAxes(x: Tensor, axes: number | readonly number[] | undefined, op: string): Set<number> {
  if (axes === undefined) return new Set(x.shape.map((_, i) => i));
  const list = typeof axes === 'number' ? [axes] : axes;
  return new Set(list.map((a) => normalizeAxis(a, x.rank, op)));
}

function reduce(op: string, x: Tensor, axes: number | readonly number[] | undefined, keepDims: boolean, factor: (count: number) => number): Tensor {
  const ax = resolveAxes(x, axes, op);
  const kept = reducedShape(x.shape, ax);
  const count = x.size / Math.max(1, kept.reduce((a, b) => a * b, 1));
  const f = factor(count);
  const acc = new Float64Array(kept.reduce((a, b) => a * b, 1));
  const xd = x.data;
  forEachBroadcast(x.shape, broadcastStrides(x.shape, x.shape), broadcastStrides(kept, x.shape), (o, _ix, ik) => {
    acc[ik]! += xd[o]!;
  });
  const outShape = keepDims ? kept : x.shape.filter((_, i) => !ax.has(i));
  const out = Tensor.empty(outShape);
  for (let i = 0; i < acc.length; i++) out.data[i] = acc[i]! * f;
  return record(op, out, [x], (g) => {
    const gk = g.view(kept);
    const dx = broadcastTo(gk, x.shape);
    if (f !== 1) for (let i = 0; i < dx.data.length; i++) dx.data[i]! *= f;
    if (dx !== gk) gk.dispose();
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

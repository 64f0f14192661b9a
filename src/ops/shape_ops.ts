// Ops that move data without arithmetic: reshape (a view), permute/transpose, slice, concat.
import { READS_NOTHING_OF_ONE, record } from '../tensor/autograd.js';
import { normalizeAxis, shapeString, sizeOf, stridesOf, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { getBackend } from '../backend/index.js';
import type { DeviceBuffer } from '../backend/backend.js';
import { GiftjsError } from '../errors.js';

/** Same values, new shape; one dimension may be -1 (inferred). Shares the buffer. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const resolved = [...shape];
  const unknown = resolved.indexOf(-1);
  if (unknown >= 0) {
    const known = resolved.reduce((p, d, i) => (i === unknown ? p : p * d), 1);
    if (known === 0 || x.size % known !== 0) {
      throw new GiftjsError(`reshape: cannot reshape ${shapeString(x.shape)} into ${shapeString(shape)}`);
    }
    resolved[unknown] = x.size / known;
  }
  if (sizeOf(resolved) !== x.size || resolved.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new GiftjsError(`reshape: cannot reshape ${shapeString(x.shape)} (${x.size} values) into ${shapeString(shape)}`);
  }
  const out = x.view(resolved);
  return record('reshape', out, [x], (g) => [g.view(x.shape)], [], READS_NOTHING_OF_ONE);
}

/**
 * Reorders dimensions: output dimension i is input dimension dims[i]. Copies, unless the dimensions
 * longer than 1 keep their order: then the values are already in the output's order, and it is a
 * view (decoding's one-token [batch, 1, heads, hd] -> [batch, heads, 1, hd], four per layer).
 */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const rank = x.rank;
  const perm = dims.map((d) => normalizeAxis(d, rank, 'permute'));
  if (perm.length !== rank || new Set(perm).size !== rank) {
    throw new GiftjsError(`permute: [${dims.join(', ')}] is not a permutation of the ${rank} dimensions of ${shapeString(x.shape)}`);
  }
  const outShape = perm.map((d) => x.shape[d]!);
  if (keepsLongDimensionsInOrder(x.shape, perm)) return reshape(x, outShape);
  const out = Tensor.empty(outShape);
  copyPermuted(x.buffer, x.shape, perm, out.buffer);
  const inverse = new Array<number>(rank);
  perm.forEach((d, i) => (inverse[d] = i));
  return record('permute', out, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    copyPermuted(g.buffer, g.shape, inverse, dx.buffer);
    return [dx];
  }, [], READS_NOTHING_OF_ONE);
}

// Whether perm moves only dimensions of length 1 past the others: the longer ones, in the output's
// order, are in the input's order.
function keepsLongDimensionsInOrder(shape: Shape, perm: readonly number[]): boolean {
  let last = -1;
  for (const d of perm) {
    if (shape[d]! <= 1) continue;
    if (d < last) return false;
    last = d;
  }
  return true;
}

/** dst = src (of `shape`) with its dimensions reordered by perm: one strided copy on the backend. */
function copyPermuted(src: DeviceBuffer, shape: Shape, perm: number[], dst: DeviceBuffer): void {
  const inStrides = stridesOf(shape);
  getBackend().copyStrided(perm.map((d) => shape[d]!), src, perm.map((d) => inStrides[d]!), dst);
}

/** Swaps two dimensions. */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const dims = x.shape.map((_, i) => i);
  const a = normalizeAxis(dim0, x.rank, 'transpose');
  const b = normalizeAxis(dim1, x.rank, 'transpose');
  [dims[a], dims[b]] = [dims[b]!, dims[a]!];
  return permute(x, dims);
}

/** The outer/inner sizes around an axis: [before, axisLength, after]. */
function split(shape: Shape, axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis]!, sizeOf(shape.slice(axis + 1))];
}

/** x[..., start:end, ...] along one axis. Copies. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const ax = normalizeAxis(axis, x.rank, 'slice');
  const len = x.shape[ax]!;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > len || start > end) {
    throw new GiftjsError(`slice: [${start}, ${end}) is not inside axis ${ax} (length ${len}) of ${shapeString(x.shape)}`);
  }
  const [outer, , inner] = split(x.shape, ax);
  const outShape = [...x.shape];
  outShape[ax] = end - start;
  const out = Tensor.empty(outShape);
  const n = (end - start) * inner;
  getBackend().copyBlocks(x.buffer, start * inner, len * inner, out.buffer, 0, n, outer, n);
  return record('slice', out, [x], (g) => {
    const dx = Tensor.zeros(x.shape);
    getBackend().copyBlocks(g.buffer, 0, n, dx.buffer, start * inner, len * inner, outer, n);
    return [dx];
  }, [], READS_NOTHING_OF_ONE);
}

/** Joins tensors along an axis; all other dimensions must match. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new GiftjsError('concat: needs at least one tensor');
  const first = xs[0]!;
  const ax = normalizeAxis(axis, first.rank, 'concat');
  for (const t of xs) {
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new GiftjsError(`concat: shapes ${shapeString(first.shape)} and ${shapeString(t.shape)} differ outside axis ${ax}`);
    }
  }
  const lengths = xs.map((t) => t.shape[ax]!);
  const total = lengths.reduce((a, b) => a + b, 0);
  const outShape = [...first.shape];
  outShape[ax] = total;
  const out = Tensor.empty(outShape);
  const [outer, , inner] = split(outShape, ax);
  let offset = 0;
  xs.forEach((t, k) => {
    const n = lengths[k]! * inner;
    getBackend().copyBlocks(t.buffer, 0, n, out.buffer, offset * inner, total * inner, outer, n);
    offset += lengths[k]!;
  });
  return record('concat', out, xs, (g, needs) => {
    let at = 0;
    return xs.map((t, k) => {
      const start = at;
      at += lengths[k]!;
      if (!needs[k]) return null;
      const n = lengths[k]! * inner;
      const dx = Tensor.empty(t.shape);
      getBackend().copyBlocks(g.buffer, start * inner, total * inner, dx.buffer, 0, n, outer, n);
      return dx;
    });
  });
}

// Elementwise arithmetic with NumPy broadcasting: add, sub, mul, div, and scaling by a constant.
import { record } from '../tensor/autograd.js';
import { broadcastShapes, sameShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastStrides, forEachBroadcast, sumToShape } from './broadcast.js';

type Combine = (x: number, y: number) => number;

function binaryForward(op: string, a: Tensor, b: Tensor, f: Combine): Tensor {
  const shape = broadcastShapes(a.shape, b.shape, op);
  const out = Tensor.empty(shape);
  const o = out.data;
  const ad = a.data;
  const bd = b.data;
  if (sameShape(a.shape, b.shape)) {
    for (let i = 0; i < o.length; i++) o[i] = f(ad[i]!, bd[i]!);
  } else if (b.size === 1) {
    const y = bd[0]!;
    for (let i = 0; i < o.length; i++) o[i] = f(ad[i]!, y);
  } else if (sameShape(shape, a.shape) && b.size > 0 && a.size % b.size === 0 && isTrailing(b.shape, a.shape)) {
    // b repeats along a's leading dimensions (a bias, a norm weight): the common fast case.
    const n = b.size;
    for (let i = 0; i < o.length; i++) o[i] = f(ad[i]!, bd[i % n]!);
  } else {
    forEachBroadcast(shape, broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape), (k, ia, ib) => {
      o[k] = f(ad[ia]!, bd[ib]!);
    });
  }
  return out;
}

/** True when `small` (leading 1s dropped) equals the trailing dimensions of `big`. */
function isTrailing(small: readonly number[], big: readonly number[]): boolean {
  let first = 0;
  while (first < small.length && small[first] === 1) first++;
  const core = small.slice(first);
  if (core.length > big.length) return false;
  return core.every((d, i) => d === big[big.length - core.length + i]);
}

/** sumToShape for a temporary: the temporary is released once reduced. */
function sumTemporary(t: Tensor, shape: readonly number[]): Tensor {
  const r = sumToShape(t, shape);
  if (r !== t) t.dispose();
  return r;
}

function mapUnary(x: Tensor, f: (v: number, i: number) => number): Tensor {
  const out = Tensor.empty(x.shape);
  const o = out.data;
  const xd = x.data;
  for (let i = 0; i < o.length; i++) o[i] = f(xd[i]!, i);
  return out;
}

export function add(a: Tensor, b: Tensor): Tensor {
  const out = binaryForward('add', a, b, (x, y) => x + y);
  return record('add', out, [a, b], (g, needs) => [needs[0] ? sumToShape(g, a.shape) : null, needs[1] ? sumToShape(g, b.shape) : null]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  const out = binaryForward('sub', a, b, (x, y) => x - y);
  return record('sub', out, [a, b], (g, needs) => [
    needs[0] ? sumToShape(g, a.shape) : null,
    needs[1] ? sumTemporary(mapUnary(g, (v) => -v), b.shape) : null,
  ]);
}

export function mul(a: Tensor, b: Tensor): Tensor {
  const out = binaryForward('mul', a, b, (x, y) => x * y);
  return record('mul', out, [a, b], (g, needs) => [
    needs[0] ? sumTemporary(binaryForward('mul', g, b, (x, y) => x * y), a.shape) : null,
    needs[1] ? sumTemporary(binaryForward('mul', g, a, (x, y) => x * y), b.shape) : null,
  ]);
}

export function div(a: Tensor, b: Tensor): Tensor {
  const out = binaryForward('div', a, b, (x, y) => x / y);
  return record('div', out, [a, b], (g, needs) => {
    const da = needs[0] ? sumTemporary(binaryForward('div', g, b, (x, y) => x / y), a.shape) : null;
    let db: Tensor | null = null;
    if (needs[1]) {
      // d(a/b)/db = -a / b^2 = -out / b
      const t = binaryForward('div', out, b, (x, y) => -x / y);
      db = sumTemporary(binaryForward('mul', g, t, (x, y) => x * y), b.shape);
      t.dispose();
    }
    return [da, db];
  });
}

/** y = s * x for a constant s. */
export function scale(x: Tensor, s: number): Tensor {
  const out = mapUnary(x, (v) => v * s);
  return record('scale', out, [x], (g) => [mapUnary(g, (v) => v * s)]);
}

/** y = x + c for a constant c. */
export function addScalar(x: Tensor, c: number): Tensor {
  const out = mapUnary(x, (v) => v + c);
  return record('addScalar', out, [x], (g) => [g]);
}

export function neg(x: Tensor): Tensor {
  return scale(x, -1);
}

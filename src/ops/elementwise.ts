// Elementwise arithmetic with NumPy broadcasting: add, sub, mul, div, and scaling by a constant.
// The arithmetic is the backend's `binary` kernel (threaded natively); operands are read through
// broadcast strides, so a bias or a scalar is never expanded in memory.
import { BinaryOp } from '../backend/backend.js';
import { getBackend } from '../backend/index.js';
import { READS_NOTHING_OF_ONE, READS_NOTHING_OF_TWO, record } from '../tensor/autograd.js';
import { broadcastShapes } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastStrides, sumToShape } from './broadcast.js';

/**
 * a op b broadcast to their common shape, into a new tensor: deferred in a checkpointed layer's
 * recomputation (Tensor.computedBy), where nothing reads the last residual sum.
 */
function binaryForward(op: BinaryOp, name: string, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(a.shape, b.shape, name);
  return Tensor.computedBy(shape, (out) =>
    getBackend().binary(op, shape, a.buffer, broadcastStrides(a.shape, shape), b.buffer, broadcastStrides(b.shape, shape), out),
  );
}

/** x op c for a constant c, into a new tensor. */
function withConstant(op: BinaryOp, x: Tensor, c: number): Tensor {
  const out = Tensor.empty(x.shape);
  const constant = Tensor.scalar(c);
  getBackend().binary(op, x.shape, x.buffer, broadcastStrides(x.shape, x.shape), constant.buffer, x.shape.map(() => 0), out.buffer);
  constant.dispose();
  return out;
}

/** sumToShape for a temporary: the temporary is released once reduced. */
function sumTemporary(t: Tensor, shape: readonly number[]): Tensor {
  const r = sumToShape(t, shape);
  if (r !== t) t.dispose();
  return r;
}

export function add(a: Tensor, b: Tensor): Tensor {
  const out = binaryForward(BinaryOp.Add, 'add', a, b);
  return record('add', out, [a, b], (g, needs) => [needs[0] ? sumToShape(g, a.shape) : null, needs[1] ? sumToShape(g, b.shape) : null], [], READS_NOTHING_OF_TWO);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  const out = binaryForward(BinaryOp.Sub, 'sub', a, b);
  return record('sub', out, [a, b], (g, needs) => [
    needs[0] ? sumToShape(g, a.shape) : null,
    needs[1] ? sumTemporary(withConstant(BinaryOp.Mul, g, -1), b.shape) : null,
  ], [], READS_NOTHING_OF_TWO);
}

export function mul(a: Tensor, b: Tensor): Tensor {
  const out = binaryForward(BinaryOp.Mul, 'mul', a, b);
  return record('mul', out, [a, b], (g, needs) => [
    needs[0] ? sumTemporary(binaryForward(BinaryOp.Mul, 'mul', g, b), a.shape) : null,
    needs[1] ? sumTemporary(binaryForward(BinaryOp.Mul, 'mul', g, a), b.shape) : null,
  ], [], { inputs: [b.requiresGrad, a.requiresGrad], output: false });
}

export function div(a: Tensor, b: Tensor): Tensor {
  const out = binaryForward(BinaryOp.Div, 'div', a, b);
  return record('div', out, [a, b], (g, needs) => {
    const da = needs[0] ? sumTemporary(binaryForward(BinaryOp.Div, 'div', g, b), a.shape) : null;
    let db: Tensor | null = null;
    if (needs[1]) {
      // d(a/b)/db = -a / b^2 = -out / b, times g
      const t = binaryForward(BinaryOp.Div, 'div', out, b);
      const gt = binaryForward(BinaryOp.Mul, 'mul', g, t);
      t.dispose();
      db = sumTemporary(withConstant(BinaryOp.Mul, gt, -1), b.shape);
      gt.dispose();
    }
    return [da, db];
  });
}

/** y = s * x for a constant s. */
export function scale(x: Tensor, s: number): Tensor {
  const out = withConstant(BinaryOp.Mul, x, s);
  return record('scale', out, [x], (g) => [withConstant(BinaryOp.Mul, g, s)], [], READS_NOTHING_OF_ONE);
}

/** y = x + c for a constant c. */
export function addScalar(x: Tensor, c: number): Tensor {
  const out = withConstant(BinaryOp.Add, x, c);
  return record('addScalar', out, [x], (g) => [g], [], READS_NOTHING_OF_ONE);
}

export function neg(x: Tensor): Tensor {
  return scale(x, -1);
}

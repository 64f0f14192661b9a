// Softmax and log-softmax over the last axis.
import { getBackend } from '../backend/index.js';
import { record } from '../tensor/autograd.js';
import { Tensor } from '../tensor/tensor.js';
import { GiftjsError } from '../errors.js';

function rowsCols(x: Tensor, op: string): [number, number] {
  if (x.rank < 1) throw new GiftjsError(`${op}: x must have rank >= 1`);
  const cols = x.shape[x.rank - 1]!;
  return [cols === 0 ? 0 : x.size / cols, cols];
}

export function softmax(x: Tensor): Tensor {
  const [rows, cols] = rowsCols(x, 'softmax');
  const out = Tensor.empty(x.shape);
  getBackend().softmaxForward(x.buffer, out.buffer, rows, cols);
  return record('softmax', out, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    getBackend().softmaxBackward(out.buffer, g.buffer, dx.buffer, rows, cols);
    return [dx];
  });
}

export function logSoftmax(x: Tensor): Tensor {
  const [rows, cols] = rowsCols(x, 'logSoftmax');
  const out = Tensor.empty(x.shape);
  getBackend().logSoftmaxForward(x.buffer, out.buffer, rows, cols);
  return record('logSoftmax', out, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    getBackend().logSoftmaxBackward(out.buffer, g.buffer, dx.buffer, rows, cols);
    return [dx];
  });
}

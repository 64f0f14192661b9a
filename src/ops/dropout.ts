// Inverted dropout: zeroes each value with probability p and scales the rest by 1 / (1 - p), so
// evaluation (training = false) is the identity.
import { record } from '../tensor/autograd.js';
import type { Random } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { BinaryOp } from '../backend/backend.js';
import { getBackend } from '../backend/index.js';
import { stridesOf } from '../tensor/shape.js';
import { GiftjsError } from '../errors.js';

export function dropout(x: Tensor, p: number, rng: Random, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new GiftjsError(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return record('dropout', x.view(x.shape), [x], (g) => [g]);
  const keepScale = 1 / (1 - p);
  // The mask is drawn on the host from the seeded generator (the same draws on every backend).
  const mask = Tensor.fromHost(x.shape, (m) => rng.fillDropoutMask(m, p, keepScale));
  const strides = stridesOf(x.shape);
  const out = Tensor.empty(x.shape);
  getBackend().binary(BinaryOp.Mul, x.shape, x.buffer, strides, mask.buffer, strides, out.buffer);
  return record('dropout', out, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    getBackend().binary(BinaryOp.Mul, x.shape, g.buffer, strides, mask.buffer, strides, dx.buffer);
    return [dx];
  }, [mask]);
}

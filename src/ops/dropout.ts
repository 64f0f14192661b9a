// Inverted dropout: zeroes each value with probability p and scales the rest by 1 / (1 - p), so
// evaluation (training = false) is the identity.
import { record } from '../tensor/autograd.js';
import type { Random } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { GiftjsError } from '../errors.js';

export function dropout(x: Tensor, p: number, rng: Random, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new GiftjsError(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return record('dropout', x.view(x.shape), [x], (g) => [g]);
  const keepScale = 1 / (1 - p);
  const mask = Tensor.empty(x.shape);
  const out = Tensor.empty(x.shape);
  const m = mask.data;
  const xd = x.data;
  for (let i = 0; i < m.length; i++) {
    m[i] = rng.uniform() < p ? 0 : keepScale;
    out.data[i] = xd[i]! * m[i]!;
  }
  return record('dropout', out, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    for (let i = 0; i < m.length; i++) dx.data[i] = g.data[i]! * m[i]!;
    return [dx];
  }, [mask]);
}

// Inverted dropout: zeroes each value with probability p and scales the rest by 1 / (1 - p), so
// evaluation (training = false) is the identity.
import { READS_NOTHING_OF_ONE, record } from '../tensor/autograd.js';
import { Random } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { BinaryOp, type AttentionDropout } from '../backend/backend.js';
import { getBackend } from '../backend/index.js';
import { dropBelowOf, MAX_DROPOUT_VALUES } from '../backend/ref/dropout.js';
import { stridesOf } from '../tensor/shape.js';
import { GiftjsError } from '../errors.js';

export function dropout(x: Tensor, p: number, rng: Random, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new GiftjsError(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return record('dropout', x.view(x.shape), [x], (g) => [g]);
  const keepScale = 1 / (1 - p);
  if (!drawsAsRandom(rng, 'dropout')) return dropoutByDraws(x, p, rng, keepScale);
  const n = x.size;
  if (n > MAX_DROPOUT_VALUES) throw new GiftjsError(`dropout: a tensor of ${n} values is more than the 2^32 its 32-bit draws tell apart`);
  // The backend draws the mask from the call's key where it multiplies (the same on every backend),
  // and the backward draws the same mask again.
  const { key0, key1, dropBelow } = dropoutKey(p, rng);
  const out = Tensor.empty(x.shape);
  getBackend().dropoutMultiply(x.buffer, out.buffer, n, key0, key1, dropBelow, keepScale);
  return record('dropout', out, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    getBackend().dropoutMultiply(g.buffer, dx.buffer, n, key0, key1, dropBelow, keepScale);
    return [dx];
  }, [], READS_NOTHING_OF_ONE);
}

/**
 * The key of one dropout call: two draws of the seeded generator (one 64-bit key a call), p's threshold
 * and the keep scale. dropout() and attention's dropout both take it here, so the same generator state
 * drops the same values of the same tensor in either.
 */
export function dropoutKey(p: number, rng: Random): AttentionDropout {
  const key0 = rng.nextUint32();
  const key1 = rng.nextUint32();
  return { key0, key1, dropBelow: dropBelowOf(p), keepScale: 1 / (1 - p) };
}

/**
 * Whether the generator draws as Random does (not a subclass's replacement of its draws, whose own
 * state saveState does not hold). Anything but a Random is refused here, before a draw: a JavaScript
 * caller that leaves rng out (or passes Math.random) would otherwise meet a TypeError mid-call.
 */
export function drawsAsRandom(rng: Random, caller: string): boolean {
  if (!(rng instanceof Random)) {
    throw new GiftjsError(`${caller}: dropout's rng must be a Random (giftjs's seeded generator: new Random(seed)), got ${describeValue(rng)}`);
  }
  return rng.uniform === Random.prototype.uniform && rng.nextUint32 === Random.prototype.nextUint32;
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'function') return `a function${v.name ? ` (${v.name})` : ''}`;
  if (typeof v === 'object') return `an object${v.constructor?.name && v.constructor.name !== 'Object' ? ` of class ${v.constructor.name}` : ''}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * The mask of a generator whose draws a subclass replaces (a test's fixed pattern): value i dropped
 * where its i-th uniform() is below p, drawn on the host and held for the backward.
 */
function dropoutByDraws(x: Tensor, p: number, rng: Random, keepScale: number): Tensor {
  const mask = Tensor.fromHost(x.shape, (m) => {
    for (let i = 0; i < m.length; i++) m[i] = rng.uniform() < p ? 0 : keepScale;
  });
  const strides = stridesOf(x.shape);
  const out = Tensor.empty(x.shape);
  getBackend().binary(BinaryOp.Mul, x.shape, x.buffer, strides, mask.buffer, strides, out.buffer);
  return record('dropout', out, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    getBackend().binary(BinaryOp.Mul, x.shape, g.buffer, strides, mask.buffer, strides, dx.buffer);
    return [dx];
  }, [mask], READS_NOTHING_OF_ONE);
}

// Dropout's mask: a counter-based hash of the call's key and the value's index (src/backend/ref/dropout.ts),
// drawn by the kernel where it multiplies and again by the backward. Checked here: the hash against an
// independent BigInt implementation of its definition, its statistics (the fraction dropped, independence
// between neighbours and between calls, within 6 standard deviations of the binomial), the same mask
// forward and backward, NaN kept a NaN, and the generator moved by the key's two draws. The kernels of
// every backend equal the ref one bit for bit in test/backend/kernel_cases.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dropout } from '../../src/ops/dropout.js';
import { dropBelowOf, dropoutDraw } from '../../src/backend/ref/dropout.js';
import { Random } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { testEachBackend } from '../helpers.js';

const M32 = (1n << 32n) - 1n;
/** lowbias32 in exact integers, reduced mod 2^32 after each product. */
function mixBig(h: bigint): bigint {
  h ^= h >> 16n;
  h = (h * 0x7feb352dn) & M32;
  h ^= h >> 15n;
  h = (h * 0x846ca68bn) & M32;
  return h ^ (h >> 16n);
}
const drawBig = (k0: number, k1: number, i: number) => Number(mixBig(mixBig((BigInt(i) + BigInt(k0)) & M32) ^ BigInt(k1)));

test('the dropout draw is two rounds of lowbias32 over the index plus the key, as exact integer arithmetic computes it', () => {
  // lowbias32's published inverse (Wellons, hash-prospector) undoes it: a check on the constants themselves.
  const inverse = (h: bigint) => {
    h ^= h >> 16n;
    h = (h * 0x43021123n) & M32;
    h ^= (h >> 15n) ^ (h >> 30n);
    h = (h * 0x1d69e2a5n) & M32;
    return h ^ (h >> 16n);
  };
  const r = new Random(3);
  for (let c = 0; c < 1000; c++) {
    const v = BigInt(r.nextUint32());
    assert.equal(inverse(mixBig(v)), v, `lowbias32 inverted at ${v}`);
  }
  for (let c = 0; c < 2000; c++) {
    const k0 = r.nextUint32();
    const k1 = r.nextUint32();
    const i = c < 1000 ? c : r.nextUint32();
    assert.equal(dropoutDraw(k0, k1, i), drawBig(k0, k1, i), `key ${k0}, ${k1}, index ${i}`);
  }
  assert.equal(dropoutDraw(0xffffffff, 0xffffffff, 0xffffffff), drawBig(0xffffffff, 0xffffffff, 0xffffffff), 'the wrap of index + key');
  // draw < ceil(p 2^32) exactly when draw / 2^32 < p
  for (const p of [0, 0.1, 0.25, 0.5, 1 / 3, 0.9]) {
    const below = dropBelowOf(p);
    assert.ok((below - 1) / 2 ** 32 < p && below / 2 ** 32 >= p, `p ${p}: threshold ${below}`);
  }
  assert.equal(dropBelowOf(1 - 2 ** -40), 0xffffffff, 'held below 2^32');
});

testEachBackend('dropout drops a fraction p, independently of neighbours and of other calls, and scales the rest by 1 / (1 - p)', () => {
  const n = 1_000_003;
  const x = Tensor.ones([n]);
  for (const p of [0.1, 0.5, 0.9]) {
    const rng = new Random(11);
    const a = dropout(x, p, rng).data;
    const b = dropout(x, p, rng).data;
    const keep = Math.fround(1 / (1 - p));
    let dropped = 0;
    let both = 0;
    let neighbours = 0;
    for (let i = 0; i < n; i++) {
      assert.ok(a[i] === 0 || a[i] === keep, `value ${i} is ${a[i]}`);
      if (a[i] === 0) dropped++;
      if (a[i] === 0 && b[i] === 0) both++;
      if (i > 0 && a[i] === 0 && a[i - 1] === 0) neighbours++;
    }
    const within = (count: number, trials: number, q: number, what: string) => {
      const sd = Math.sqrt(trials * q * (1 - q));
      assert.ok(Math.abs(count - trials * q) < 6 * sd, `p ${p}: ${what} ${count} of ${trials}, expected ${(trials * q).toFixed(0)} +- ${sd.toFixed(0)}`);
    };
    within(dropped, n, p, 'dropped');
    within(both, n, p * p, 'dropped by two calls in a row');
    within(neighbours, n - 1, p * p, 'neighbours both dropped');
  }
});

testEachBackend('dropout\'s mask is the draws below the threshold, the backward multiplies by the same mask, NaN stays NaN, and the generator moves two draws a call', () => {
  const values = Array.from({ length: 4099 }, (_, i) => (i === 17 ? NaN : i === 18 ? -Infinity : Math.sin(i) + 2));
  const x = Tensor.fromArray(values).requireGrad();
  const rng = new Random(5);
  const y = dropout(x, 0.3, rng);
  const keys = new Random(5);
  const [key0, key1] = [keys.nextUint32(), keys.nextUint32()];
  assert.deepEqual(rng.saveState(), keys.saveState(), 'two draws: the key');
  const g = Array.from({ length: values.length }, (_, i) => Math.cos(i));
  y.backward(Tensor.fromArray(g));
  const keep = Math.fround(1 / 0.7);
  const below = dropBelowOf(0.3);
  const yd = y.data;
  const gx = x.grad!.data;
  let dropped = 0;
  for (let i = 0; i < values.length; i++) {
    const factor = drawBig(key0, key1, i) < below ? 0 : keep;
    if (factor === 0) dropped++;
    assert.ok(Object.is(yd[i], Math.fround(Math.fround(values[i]!) * factor)), `value ${i}: ${yd[i]}`);
    assert.ok(Object.is(gx[i], Math.fround(Math.fround(g[i]!) * factor)), `gradient ${i}: ${gx[i]}`);
  }
  assert.ok(dropped > 1000 && dropped < 1500, `${dropped} dropped`);
  // The same key again draws the same mask; evaluation mode is the identity.
  assert.deepEqual(Array.from(dropout(x, 0.3, new Random(5)).data), Array.from(yd), 'seeded');
  assert.deepEqual(Array.from(dropout(Tensor.fromArray([1, 2]), 0.5, new Random(1), false).data), [1, 2]);
  assert.throws(() => dropout(x, 1, new Random(1)), /p must be in \[0, 1\)/);
  // From JavaScript: a missing generator or Math.random is refused by name, not met as a TypeError.
  assert.throws(() => dropout(x, 0.3, undefined as unknown as Random), (e: Error) => e.name === 'GiftjsError' && /dropout: dropout's rng must be a Random .*got undefined/.test(e.message));
  assert.throws(() => dropout(x, 0.3, Math.random as unknown as Random), (e: Error) => e.name === 'GiftjsError' && /got a function \(random\)/.test(e.message));
  // Evaluation and p = 0 draw nothing, so they need no generator.
  assert.deepEqual(Array.from(dropout(Tensor.fromArray([1, 2]), 0.5, undefined as unknown as Random, false).data), [1, 2]);
});

test('a generator whose draws a subclass replaces has its mask drawn from its own uniform(), value by value', () => {
  class Pattern extends Random {
    private i = 0;
    override uniform(): number {
      return (this.i++ % 4) / 4;
    }
  }
  const y = dropout(Tensor.ones([8]), 0.5, new Pattern(0)).data;
  assert.deepEqual(Array.from(y), [0, 0, 2, 2, 0, 0, 2, 2]);
});

// A small seeded generator (xoshiro128**): the same seed gives the same numbers on every
// machine, which is what makes initialisation, dropout and data order reproducible.

import { GiftjsError } from '../errors.js';

/**
 * Refuses a seed that is not a whole number: NaN and 1.5 had become the seeds 0 and 1 without a
 * word (two runs "with different seeds" alike), also where a seed is mixed with others first.
 */
export function assertSeed(seed: number): void {
  if (!Number.isInteger(seed)) throw new GiftjsError(`a random seed must be a whole number, got ${seed}`);
}

/**
 * A seed a user gives (a run's, a sampler's): a whole number from 0 to 2^32 - 1, the generator's 32
 * bits. (2^32 had seeded as 0, and -1 as 2^32 - 1: two "different" seeds alike.)
 */
export function isUserSeed(seed: unknown): seed is number {
  return typeof seed === 'number' && Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff;
}

export interface RandomState {
  readonly words: readonly [number, number, number, number];
  readonly spareNormal: number | null;
}

export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | null = null;

  constructor(seed = 0) {
    assertSeed(seed);
    // splitmix32 spreads the seed (modulo 2^32) over the four state words.
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Where the generator stands, to come back to with restoreState (a recomputed block draws its dropout masks again). */
  saveState(): RandomState {
    return { words: [this.s0, this.s1, this.s2, this.s3], spareNormal: this.spareNormal };
  }

  restoreState(state: RandomState): void {
    [this.s0, this.s1, this.s2, this.s3] = state.words;
    this.spareNormal = state.spareNormal;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

// The buffer pool's bound: what it holds, live and idle together, stays under the most bytes tensors
// have held live at once, except for the buffers the current unit of work (an outermost tidy) has
// used -- so a unit of new shapes gives back the last unit's buffers instead of holding both, a unit
// that repeats the last one's shapes allocates nothing, and one of somewhat shorter shapes takes
// prefixes of the idle buffers. And the pages of a buffer given back
// leave the process at once (the addon's discardPages), not at the next garbage collection.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostMemory } from '../../src/backend/host_memory.js';
import { nativeAddon } from '../../src/backend/index.js';
import { BufferPool, tidy } from '../../src/tensor/memory.js';

const MB = 2 ** 20;

/** One unit of work: `count` buffers of `floats` live at once, then given back; what the pool held at most. */
function unit(pool: BufferPool, floats: number, count: number): number {
  let held = 0;
  tidy(() => {
    const bufs = Array.from({ length: count }, () => {
      const b = pool.acquire(floats);
      held = Math.max(held, pool.liveBytes + pool.idleBytes);
      return b;
    });
    for (const b of bufs) pool.release(b);
  });
  return held;
}

test('a unit of work that repeats the last one\'s shapes allocates nothing new', () => {
  const pool = new BufferPool(hostMemory);
  unit(pool, MB, 4);
  const fresh = pool.freshAllocations;
  unit(pool, MB, 4);
  unit(pool, MB, 4);
  assert.equal(pool.freshAllocations, fresh);
  assert.equal(pool.evictions, 0);
  assert.equal(pool.idleBytes, 4 * 4 * MB);
});

test('a unit of work of shorter shapes, down to half the idle buffers\' length, takes prefixes of them: nothing new, nothing given back', () => {
  const pool = new BufferPool(hostMemory);
  unit(pool, MB, 4);
  const fresh = pool.freshAllocations;
  // Batches padded to their longest text ask for other lengths every step, mostly a little shorter.
  for (const floats of [0.75 * MB, 0.5 * MB + 1, 0.9 * MB, 0.5 * MB]) {
    const held = unit(pool, floats, 4);
    assert.ok(held <= 16 * MB, `held ${held / MB} MiB`);
  }
  assert.equal(pool.freshAllocations, fresh);
  assert.equal(pool.evictions, 0);
  assert.equal(pool.idleBytes, 16 * MB);
  // A prefix is the request's length, over the first values of the whole buffer, which goes back whole.
  tidy(() => {
    const half = pool.acquire(0.5 * MB) as Float32Array;
    assert.equal(half.length, 0.5 * MB);
    assert.equal(pool.liveBytes, 4 * MB, 'a prefix counts its whole buffer');
    half.fill(7);
    pool.release(half);
    const whole = pool.acquire(MB) as Float32Array;
    assert.equal(whole.length, MB);
    assert.ok(whole[0] === 7 && whole[0.5 * MB - 1] === 7, 'the prefix was the whole buffer\'s first values');
    pool.release(whole);
  });
  assert.equal(pool.idleBytes, 16 * MB);
  assert.equal(pool.freshAllocations, fresh);
});

test('a unit of work of shapes no idle buffer can serve gives back the idle buffers of earlier ones, staying under the live peak', () => {
  const pool = new BufferPool(hostMemory);
  unit(pool, MB, 4); // peak: 16 MiB live
  // Each shape under half of every idle one: each allocates afresh, and the old shapes' idle buffers
  // go, so the pool never holds two steps' worth.
  for (const floats of [0.45 * MB, 0.2 * MB, 0.09 * MB, 0.04 * MB]) {
    const held = unit(pool, floats, 4);
    assert.ok(held <= pool.peakLiveBytes, `held ${held / MB} MiB past the live peak of ${pool.peakLiveBytes / MB} MiB`);
  }
  assert.equal(pool.peakLiveBytes, 16 * MB);
  assert.ok(pool.evictions >= 2, `${pool.evictions} buffers given back`);
  assert.ok(pool.liveBytes + pool.idleBytes <= 16 * MB);
  // A new peak leaves nothing idle beside it.
  unit(pool, 2 * MB, 4);
  assert.equal(pool.peakLiveBytes, 32 * MB);
  assert.equal(pool.idleBytes, 32 * MB, 'only the new shape\'s buffers are idle after it');
});

test('a unit of work keeps its own buffers even past the live peak, so that repeating it allocates nothing', () => {
  const pool = new BufferPool(hostMemory);
  // Two buffers never live together: the peak is the larger one, but the unit uses both.
  const steps = () => tidy(() => {
    pool.release(pool.acquire(MB));
    pool.release(pool.acquire(2 * MB));
  });
  steps();
  assert.equal(pool.peakLiveBytes, 8 * MB);
  assert.equal(pool.idleBytes, 12 * MB);
  assert.equal(pool.evictions, 0);
  const fresh = pool.freshAllocations;
  steps();
  steps();
  assert.equal(pool.freshAllocations, fresh);
});

test('a buffer given back leaves the process\'s resident memory at once, and reads zeros', { skip: process.platform !== 'linux' ? 'discardPages gives pages back on Linux only' : nativeAddon()?.discardPages ? false : 'needs the native addon (discardPages)' }, () => {
  const values = new Float32Array(64 * MB / 4).fill(1.5);
  const before = process.memoryUsage().rss;
  hostMemory.discard!(values);
  const after = process.memoryUsage().rss;
  assert.ok(before - after >= 56 * MB, `resident memory fell by ${((before - after) / MB).toFixed(1)} MiB, not the 64 MiB given back`);
  assert.equal(values.length, 64 * MB / 4);
  // The whole pages inside the array read zeros; a page it shares with other memory keeps its values.
  assert.equal(values[values.length >> 1], 0);
});

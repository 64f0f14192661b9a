// Deterministic memory for tensors.
//
// JavaScript frees a Float32Array whenever the garbage collector gets round to it, which makes a
// training loop's resident memory depend on GC timing. giftjs instead recycles buffers: a
// disposed tensor returns its buffer to a size-keyed pool, and the next tensor of that size takes
// it back (or, on host memory, the next one up to half as long takes a prefix of it). A steady-state
// training step therefore allocates nothing new, and resident memory stays flat however many steps run.
//
// Scopes make disposal automatic: every tensor created inside tidy(fn) is disposed when fn
// returns, except the tensors fn returns and those marked with keep().
import type { BackendMemory, DeviceBuffer } from '../backend/backend.js';
import { GiftjsError } from '../errors.js';

export interface Disposable {
  dispose(): void;
}

/**
 * The idle bytes a pool may always hold, or the live peak where that is more: a backstop for code
 * that runs no tidy(), where nothing marks units of work (BufferPool.release).
 */
const POOL_FLOOR_BYTES = 2 * 1024 ** 3;

/**
 * How much longer than a request an idle buffer may be and still serve it (through a prefix): at
 * most half of a buffer lies unused, while a batch a little shorter than the last finds its
 * buffers. Live and idle bytes count whole buffers, so the pool's bound on them holds as before.
 */
const PREFIX_SLACK = 2;

/**
 * Recycles the float32 buffers of one backend memory space (host memory, or a device's).
 *
 * A unit of work (a step, an evaluation batch, a decoded token: whatever runs in an outermost tidy)
 * that repeats the last one's shapes takes every buffer back from the pool and allocates nothing
 * new. One whose shapes are new must not find the old buffers still resident beside its own: a
 * memory estimate (src/train/memory_estimate.ts) counts one step's buffers, not those of every
 * shape seen before. So when a request finds no idle buffer to use and what the pool holds, live
 * and idle, would pass the most bytes tensors have held live at once, idle buffers the current
 * unit of work has not used are given back first (BackendMemory.discard: at once, not at the next
 * garbage collection). A unit's own buffers are never given back for it, so a step that repeats
 * allocates nothing even where its buffers add up to more than its live peak: a buffer allocated
 * afresh costs a page fault per 4 KiB (the logits' gradient of a 49k vocabulary, 200 MB, took
 * ~190 ms of a 5.6 s SmolLM2 step on 2 cores when a smaller pool had let it go).
 */
export class BufferPool {
  /** Idle buffers by exact length. */
  private readonly idle = new Map<number, DeviceBuffer[]>();
  /**
   * The whole buffer behind each prefix handed out (BackendMemory.prefix): an idle buffer up to
   * PREFIX_SLACK times a request's length serves it when none of its exact length is idle. A
   * training run whose batches are padded to their longest text asks for new lengths every step;
   * served by exact length only, each step allocated its activations afresh, a page fault per 4 KiB
   * (40% of npm run demo's time, 90 of 224 s, went to allocating).
   */
  private readonly wholeOf = new WeakMap<DeviceBuffer, DeviceBuffer>();
  /** The unit of work (workUnit) that last took each buffer. */
  private readonly lastUnit = new WeakMap<DeviceBuffer, number>();
  idleBytes = 0;
  /** Bytes of the buffers live tensors hold. */
  liveBytes = 0;
  liveBuffers = 0;
  /** The most bytes live tensors have held at once. */
  peakLiveBytes = 0;
  freshAllocations = 0;
  reuses = 0;
  /** Idle buffers given back before their time: to stay under the peak (allocate), or by clear. */
  evictions = 0;

  constructor(readonly memory: BackendMemory) {}

  /** A buffer of exactly `length` floats. Its contents are whatever the last user left. */
  acquire(length: number): DeviceBuffer {
    this.chargeBudget(length);
    const exact = this.idle.get(length)?.pop();
    if (exact) return this.reuse(exact);
    const larger = this.memory.prefix && length > 0 ? this.takeSmallestIdle(length, PREFIX_SLACK * length) : null;
    if (!larger) return this.allocate(length);
    const view = this.memory.prefix!(this.reuse(larger), length);
    this.wholeOf.set(view, larger);
    return view;
  }

  private reuse(buf: DeviceBuffer): DeviceBuffer {
    this.idleBytes -= buf.length * 4;
    this.reuses++;
    this.markLive(buf);
    return buf;
  }

  /** The shortest idle buffer longer than `min` values and at most `max`, taken off its list; or null. */
  private takeSmallestIdle(min: number, max: number): DeviceBuffer | null {
    let best = -1;
    for (const [length, list] of this.idle) {
      if (length > min && length <= max && list.length > 0 && (best < 0 || length < best)) best = length;
    }
    return best < 0 ? null : this.idle.get(best)!.pop()!;
  }

  /**
   * Counts `length` floats against the allocation budget in force (withAllocationBudget), if any,
   * refusing past it: what a buffer allocated later (fresh zeros awaiting a checkpoint) will cost.
   */
  chargeBudget(length: number): void {
    if (limits.budget) {
      limits.budget.remaining -= length;
      if (limits.budget.remaining < 0) throw new GiftjsError(limits.budget.message);
    }
  }

  /** A freshly allocated buffer (zeroed, see BackendMemory.alloc), never a recycled one; counted as acquire counts. */
  acquireZeroed(length: number): DeviceBuffer {
    this.chargeBudget(length);
    return this.allocate(length);
  }

  release(handed: DeviceBuffer): void {
    const buf = this.whole(handed);
    const bytes = buf.length * 4;
    this.liveBytes -= bytes;
    this.liveBuffers--;
    // A fixed limit (setPoolLimit) bounds the idle bytes; the automatic one here is only a backstop
    // for code that runs no tidy(), where allocate's rule has no unit of work to go by.
    const idleLimit = limits.fixedBytes ?? Math.max(POOL_FLOOR_BYTES, this.peakLiveBytes);
    if (buf.length === 0 || this.idleBytes + bytes > idleLimit) {
      this.memory.free(buf);
      return;
    }
    let list = this.idle.get(buf.length);
    if (!list) this.idle.set(buf.length, (list = []));
    list.push(buf);
    this.idleBytes += bytes;
  }

  /** Stops accounting for a live buffer and frees it without keeping it for reuse. */
  forget(handed: DeviceBuffer): void {
    const buf = this.whole(handed);
    this.liveBytes -= buf.length * 4;
    this.liveBuffers--;
    this.memory.free(buf);
  }

  /** The buffer a handed-out one is a prefix of, or itself; forgotten as a prefix (it is being given back). */
  private whole(handed: DeviceBuffer): DeviceBuffer {
    const whole = this.wholeOf.get(handed);
    if (!whole) return handed;
    this.wholeOf.delete(handed);
    return whole;
  }

  /** Frees every idle buffer. */
  clear(): void {
    for (const list of this.idle.values()) for (const b of list) this.evict(b);
    this.idle.clear();
  }

  private allocate(length: number): DeviceBuffer {
    const bytes = length * 4;
    // Held now plus the new buffer, against the peak it may not pass (or the new peak it makes).
    const over = this.liveBytes + this.idleBytes + bytes - Math.max(this.peakLiveBytes, this.liveBytes + bytes);
    if (over > 0 && limits.fixedBytes === null) this.makeRoom(over);
    const buf = this.memory.alloc(length);
    this.freshAllocations++;
    this.markLive(buf);
    return buf;
  }

  private markLive(buf: DeviceBuffer): void {
    this.lastUnit.set(buf, workUnit);
    this.liveBytes += buf.length * 4;
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    this.liveBuffers++;
  }

  /**
   * Gives back idle buffers the current unit of work has not used until `bytes` are freed, those
   * taken longest ago first: the shapes of the oldest units go before the last unit's.
   */
  private makeRoom(bytes: number): void {
    const stale: [number, DeviceBuffer[], DeviceBuffer][] = [];
    for (const list of this.idle.values()) {
      for (const buf of list) {
        const unit = this.lastUnit.get(buf) ?? -1; // (-1: a buffer the pool never handed out)
        if (unit !== workUnit) stale.push([unit, list, buf]);
      }
    }
    stale.sort((a, b) => a[0] - b[0]);
    for (const [, list, buf] of stale) {
      if (bytes <= 0) return;
      list.splice(list.indexOf(buf), 1);
      bytes -= this.evict(buf);
    }
  }

  /** Frees an idle buffer (taken off its list), its memory given back now; returns its bytes. */
  private evict(buf: DeviceBuffer): number {
    this.idleBytes -= buf.length * 4;
    this.evictions++;
    this.memory.discard?.(buf);
    this.memory.free(buf);
    return buf.length * 4;
  }
}

/** Settings shared by every pool: a fixed idle limit, and the allocation budget of a loader. */
const limits: { fixedBytes: number | null; budget: { remaining: number; message: string } | null } = { fixedBytes: null, budget: null };

const pools = new Map<string, BufferPool>();

/** The pool of a memory space (created on first use). */
export function poolFor(memory: BackendMemory): BufferPool {
  let pool = pools.get(memory.space);
  if (!pool) pools.set(memory.space, (pool = new BufferPool(memory)));
  return pool;
}

export interface MemoryStats {
  /** Buffers held by live tensors, and their bytes. */
  liveBuffers: number;
  liveBytes: number;
  /** Bytes of idle buffers waiting in the pool for reuse. */
  idleBytes: number;
  /** Buffers created from scratch so far, and buffers served from the pool. */
  freshAllocations: number;
  reuses: number;
  /** Idle buffers given back before their time: to stay under the peak of live memory, or by clearing the pool. */
  evictions: number;
}

/** Totals over every memory space's pool. */
export function memoryStats(): MemoryStats {
  const total: MemoryStats = { liveBuffers: 0, liveBytes: 0, idleBytes: 0, freshAllocations: 0, reuses: 0, evictions: 0 };
  for (const p of pools.values()) {
    total.liveBuffers += p.liveBuffers;
    total.liveBytes += p.liveBytes;
    total.idleBytes += p.idleBytes;
    total.freshAllocations += p.freshAllocations;
    total.reuses += p.reuses;
    total.evictions += p.evictions;
  }
  return total;
}

/**
 * Sets how many bytes of idle buffers each pool keeps (0 turns recycling off); null restores the
 * automatic limit (idle and live together no more than the peak of live tensor memory).
 */
export function setPoolLimit(bytes: number | null): void {
  limits.fixedBytes = bytes;
  for (const p of pools.values()) if (bytes !== null && p.idleBytes > bytes) p.clear();
}

// ---- scopes ----

const scopes: Set<Disposable>[] = [];

/** Counts outermost tidy() calls: the units of work BufferPool tells apart. */
let workUnit = 0;

/** Called by every new tensor: the innermost open scope takes ownership of it. */
export function trackInScope(t: Disposable): void {
  scopes[scopes.length - 1]?.add(t);
}

/** Removes a tensor from every open scope, so that no scope disposes it. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collectDisposables(value: unknown, into: Set<Disposable>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (typeof (value as Disposable).dispose === 'function' && 'shape' in (value as object)) {
    into.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectDisposables(v, into, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as object)) collectDisposables(v, into, seen);
  }
}

/**
 * Runs fn in a scope of its own, then hands each tensor it created (and did not keep()) to
 * `settle`, told whether fn returns it (alone, in an array or in a plain object); if fn throws,
 * each goes to `onThrow` instead. fn must be synchronous: a scope cannot follow an await.
 */
function inScope<T>(name: string, fn: () => T, settle: (t: Disposable, returned: boolean) => void, onThrow: (t: Disposable) => void): T {
  const scope = new Set<Disposable>();
  if (scopes.length === 0) workUnit++;
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new GiftjsError(`${name}(fn): fn must be synchronous (it returned a Promise)`);
  } catch (err) {
    scopes.pop();
    for (const t of scope) onThrow(t);
    throw err;
  }
  scopes.pop();
  const survivors = new Set<Disposable>();
  collectDisposables(result, survivors, new Set());
  for (const t of scope) settle(t, survivors.has(t));
  return result;
}

/**
 * Runs fn and disposes every tensor it created, except those it returns (alone, in an array or
 * in a plain object) and those marked with keep(). Returned tensors pass to the enclosing scope.
 * fn must be synchronous: a scope cannot follow an await.
 */
export function tidy<T>(fn: () => T): T {
  return inScope('tidy', fn, (t, returned) => (returned ? trackInScope(t) : t.dispose()), (t) => t.dispose());
}

let releaseUnread = true;

/**
 * Turns releasingUnread's early release off (it then runs fn in the enclosing scope, as tidy's
 * caller would) or back on: tests compare a step with and without it.
 */
export function setReleasingUnread(on: boolean): void {
  releaseUnread = on;
}

/** A tensor as releasingUnread sees it: whether a backward reads its values, and how to give them back. */
interface Releasable extends Disposable {
  readonly valueNeeded: boolean;
  releaseWhenRead: boolean;
  releaseValue(): void;
}

function isReleasable(t: Disposable): t is Releasable {
  return typeof (t as Partial<Releasable>).releaseValue === 'function';
}

/**
 * Runs fn (one layer of a model's forward) and, when it returns, gives back the buffers of the
 * tensors it created that no recorded backward will read (Tensor.valueNeeded) and that it does not
 * return: a frozen projection's input, a residual sum's operands, a transpose's source (without a
 * graph, in evaluation or a prefill, all of them: a forward then holds one layer's activations at a
 * time). They stay in the graph, so gradients still flow through them, and the enclosing scope
 * disposes them as before. Without it every intermediate of every layer is held until the step's
 * scope ends; with it a layer keeps only what its backward reads, and only until that backward has
 * run (runBackward gives those buffers back then, pendingReads). Tensors marked with keep() are left alone; fn
 * must not hold on to one it made for use after it returns (that read would throw, not misread).
 */
export function releasingUnread<T>(fn: () => T): T {
  if (!releaseUnread) return fn();
  // Every tensor passes to the enclosing scope, which disposes it as it would have (on a throw too).
  return inScope('releasingUnread', fn, (t, returned) => {
    if (!returned && isReleasable(t)) {
      if (!t.valueNeeded) t.releaseValue();
      else t.releaseWhenRead = true;  // given back by runBackward after the last backward that reads it
    }
    trackInScope(t);
  }, trackInScope);
}

/**
 * Runs fn with at most `maxFloats` floats of new tensor memory; past that, the allocation fails with
 * `message` before it happens. Loaders build a model inside the size its checkpoint proves, so a
 * config that declares more (vocab_size 5e7, num_hidden_layers 1e9) is refused, not allocated.
 */
export function withAllocationBudget<T>(maxFloats: number, message: string, fn: () => T): T {
  const outer = limits.budget;
  limits.budget = { remaining: maxFloats, message };
  try {
    return fn();
  } finally {
    limits.budget = outer;
  }
}

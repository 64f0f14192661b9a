// Batches for training: examples are shuffled with a seed that depends only on (seed, epoch) --
// so a resumed run sees exactly the order an uninterrupted one would -- grouped by length so that
// little is padding, right-padded (a causal model's real tokens never see the padding after them)
// and the batch order shuffled again.
import { assertSeed, Random } from '../tensor/random.js';
import { GiftjsError } from '../errors.js';
import type { Example } from './examples.js';

export interface Batch {
  /** [batch, seq] token ids, padded with padId. */
  ids: Int32Array;
  /** [batch, seq] labels, -100 on padding and on positions without loss. */
  labels: Int32Array;
  batch: number;
  seq: number;
  /** Tokens whose prediction counts (after the next-token shift). */
  targetTokens: number;
  /** Packed rows (data/packing.ts): [batch, seq] segment ids, 0 on padding; absent, one example per row. */
  segments?: Int32Array;
}

export function shuffle<T>(items: T[], rng: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export function collate(examples: Example[], padId: number): Batch {
  const seq = Math.max(...examples.map((e) => e.ids.length));
  const batch = examples.length;
  const ids = new Int32Array(batch * seq).fill(padId);
  const labels = new Int32Array(batch * seq).fill(-100);
  let targetTokens = 0;
  examples.forEach((e, b) => {
    ids.set(e.ids, b * seq);
    labels.set(e.labels, b * seq);
    for (let t = 1; t < e.labels.length; t++) if (e.labels[t] !== -100) targetTokens++;
  });
  return { ids, labels, batch, seq, targetTokens };
}

/**
 * Refuses a batch size that is not a whole number >= 1. From JavaScript, 0 had looped without end (its
 * batches piling up until the memory ran out), and 2.5 had cut overlapping batches: examples counted twice.
 */
export function checkBatchSize(batchSize: number): void {
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new GiftjsError(`batchSize must be a whole number >= 1, got ${batchSize}`);
}

/**
 * One epoch's examples grouped into batches, in a deterministic order for (seed, epoch): shuffled,
 * sorted by length within windows of 32 batches (little padding), and the batches shuffled again.
 */
export function epochGroups<T extends { ids: ArrayLike<number> }>(examples: T[], batchSize: number, seed: number, epoch: number): T[][] {
  checkBatchSize(batchSize);
  assertSeed(seed);
  const rng = new Random((seed * 7919 + epoch * 104729) >>> 0);
  const order = shuffle(examples.map((_, i) => i), rng);
  const window = batchSize * 32;
  const groups: number[][] = [];
  for (let w = 0; w < order.length; w += window) {
    const chunk = order.slice(w, w + window).sort((a, b) => examples[a]!.ids.length - examples[b]!.ids.length || a - b);
    for (let i = 0; i < chunk.length; i += batchSize) groups.push(chunk.slice(i, i + batchSize));
  }
  return shuffle(groups, rng).map((g) => g.map((i) => examples[i]!));
}

/** The language-modelling batches of one epoch (see epochGroups). */
export function epochBatches(examples: Example[], batchSize: number, seed: number, epoch: number, padId: number): Batch[] {
  return epochGroups(examples, batchSize, seed, epoch).map((g) => collate(g, padId));
}

/**
 * Examples in length order, longest first, cut into batches: held-out scoring's fixed order, with
 * little padding. Longest first, each batch's buffers are prefixes of the last one's (the buffer
 * pool's); shortest first, every batch was longer than any idle buffer and allocated its own.
 */
export function lengthSortedBatches<T extends { ids: ArrayLike<number> }, B>(examples: readonly T[], batchSize: number, collateGroup: (group: T[]) => B): B[] {
  checkBatchSize(batchSize);
  const sorted = [...examples].sort((a, b) => b.ids.length - a.ids.length);
  const out: B[] = [];
  for (let i = 0; i < sorted.length; i += batchSize) out.push(collateGroup(sorted.slice(i, i + batchSize)));
  return out;
}

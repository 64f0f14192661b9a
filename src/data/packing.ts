// Sequence packing (TRL's packing, --pack): examples concatenated into rows of up to maxLength tokens,
// each keeping its own segment id so that attention and positions restart at its start (the models
// take the ids as CausalLMForwardOptions.segments). A packed row then computes exactly what its
// examples would one by one, without the padding a batch of unequal lengths carries.
import type { Batch } from './batches.js';
import type { Example } from './examples.js';
import { GiftjsError } from '../errors.js';

/** Examples packed into one row. */
export interface PackedRow {
  examples: Example[];
  /** Tokens in the row. */
  ids: { length: number };
}

/**
 * Packs examples in their order into rows of at most maxLength tokens, each row filled until the next
 * example no longer fits (an example is never split across rows).
 */
export function packExamples(examples: readonly Example[], maxLength: number): PackedRow[] {
  // (A NaN maxLength had packed every example into one row, silently.)
  if (!(Number.isInteger(maxLength) && maxLength >= 1)) throw new GiftjsError(`packing: maxLength (--max-length) must be a whole number of tokens >= 1, got ${maxLength}`);
  const rows: PackedRow[] = [];
  let current: Example[] = [];
  let length = 0;
  for (const e of examples) {
    if (e.ids.length > maxLength) throw new GiftjsError(`packing: an example of ${e.ids.length} tokens is longer than the rows' maxLength (--max-length) ${maxLength}`);
    if (length + e.ids.length > maxLength && current.length > 0) {
      rows.push({ examples: current, ids: { length } });
      current = [];
      length = 0;
    }
    current.push(e);
    length += e.ids.length;
  }
  if (current.length > 0) rows.push({ examples: current, ids: { length } });
  return rows;
}

/**
 * Packed rows as one batch: ids and labels end to end, right-padded; segments numbered 1, 2, ... per
 * row (0 on padding). Each example's first label is dropped: after the next-token shift it would
 * score the previous example's last token against it.
 */
export function collatePacked(rows: readonly PackedRow[], padId: number): Batch {
  const seq = Math.max(...rows.map((r) => r.ids.length));
  const batch = rows.length;
  const ids = new Int32Array(batch * seq).fill(padId);
  const labels = new Int32Array(batch * seq).fill(-100);
  const segments = new Int32Array(batch * seq);
  let targetTokens = 0;
  rows.forEach((row, b) => {
    let at = b * seq;
    row.examples.forEach((e, k) => {
      ids.set(e.ids, at);
      labels.set(e.labels, at);
      labels[at] = -100;
      segments.fill(k + 1, at, at + e.ids.length);
      for (let t = 1; t < e.labels.length; t++) if (e.labels[t] !== -100) targetTokens++;
      at += e.ids.length;
    });
  });
  return { ids, labels, batch, seq, targetTokens, segments };
}

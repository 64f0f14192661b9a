// Classification and regression metrics as GLUE reports them: accuracy, F1 of the positive class,
// Matthews correlation (CoLA), Pearson and Spearman correlation (STS-B).
import { GiftjsError } from '../errors.js';

// Predictions and gold labels pair up by position: of two lengths, the extra ones had been dropped
// (accuracy of [1, 2, 3] against [1, 2] read 1), silently.
function samePairs(metric: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) throw new GiftjsError(`${metric}: ${a.length} predictions against ${b.length} gold values; they pair up one to one`);
}

export function accuracy(pred: ArrayLike<number>, gold: ArrayLike<number>): number {
  samePairs('accuracy', pred, gold);
  let c = 0;
  for (let i = 0; i < gold.length; i++) if (pred[i] === gold[i]) c++;
  return c / gold.length;
}

function confusion(pred: ArrayLike<number>, gold: ArrayLike<number>, positive: number) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < gold.length; i++) {
    const p = pred[i] === positive;
    const g = gold[i] === positive;
    if (p && g) tp++;
    else if (p) fp++;
    else if (g) fn++;
    else tn++;
  }
  return { tp, fp, fn, tn };
}

/** F1 of the positive class (binary; 0 when there is no true or predicted positive). */
export function f1Score(pred: ArrayLike<number>, gold: ArrayLike<number>, positive = 1): number {
  samePairs('f1Score', pred, gold);
  const { tp, fp, fn } = confusion(pred, gold, positive);
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
}

/** Matthews correlation coefficient, multiclass (Gorodkin's R_K, as scikit-learn computes it). */
export function matthewsCorrelation(pred: ArrayLike<number>, gold: ArrayLike<number>): number {
  samePairs('matthewsCorrelation', pred, gold);
  const classes = [...new Set([...Array.from(pred), ...Array.from(gold)])];
  const n = gold.length;
  let correct = 0;
  const t = new Map<number, number>();
  const p = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    if (pred[i] === gold[i]) correct++;
    t.set(gold[i]!, (t.get(gold[i]!) ?? 0) + 1);
    p.set(pred[i]!, (p.get(pred[i]!) ?? 0) + 1);
  }
  let tp = 0;
  let pp = 0;
  let tt = 0;
  for (const c of classes) {
    tp += (t.get(c) ?? 0) * (p.get(c) ?? 0);
    pp += (p.get(c) ?? 0) ** 2;
    tt += (t.get(c) ?? 0) ** 2;
  }
  const denom = Math.sqrt(n * n - pp) * Math.sqrt(n * n - tt);
  return denom === 0 ? 0 : (correct * n - tp) / denom;
}

export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  samePairs('pearson', x, y);
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]! / n;
    my += y[i]! / n;
  }
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Ranks from 1, ties given their average rank. */
function ranks(v: ArrayLike<number>): number[] {
  const idx = Array.from(v, (_, i) => i).sort((a, b) => v[a]! - v[b]!);
  const r = new Array<number>(v.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && v[idx[j + 1]!] === v[idx[i]!]) j++;
    for (let k = i; k <= j; k++) r[idx[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  samePairs('spearman', x, y);
  return pearson(ranks(x), ranks(y));
}

/** Index of the largest value (the first one on a tie): a classifier's predicted class. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 0; i < values.length; i++) {
    // A NaN score would silently lose every comparison: report it instead of picking around it.
    if (Number.isNaN(values[i]!)) throw new GiftjsError(`the model's output holds NaN (score ${i} of ${values.length}): its weights or the adapter's are not finite`);
    if (values[i]! > values[best]!) best = i;
  }
  return best;
}

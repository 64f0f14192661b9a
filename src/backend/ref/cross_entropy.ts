// Reference fused cross-entropy kernels: the loss of each row of logits and its gradient.
import { rowLogSumExp } from './softmax.js';

type F = Float32Array;

export function refCrossEntropyForward(logits: F, targets: Int32Array, loss: F, lse: F, rows: number, vocab: number, ignoreIndex: number): void {
  for (let r = 0; r < rows; r++) {
    const t = targets[r]!;
    if (t !== ignoreIndex && (t < 0 || t >= vocab)) {
      throw new RangeError(`cross-entropy target ${t} at row ${r} is outside the vocabulary of ${vocab}`);
    }
    const l = rowLogSumExp(logits, r * vocab, vocab);
    lse[r] = l;
    loss[r] = t === ignoreIndex ? 0 : l - logits[r * vocab + t]!;
  }
}

export function refCrossEntropyBackward(logits: F, targets: Int32Array, lse: F, rowScale: F, dlogits: F, rows: number, vocab: number, ignoreIndex: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    const t = targets[r]!;
    if (t === ignoreIndex) {
      dlogits.fill(0, o, o + vocab);
      continue;
    }
    const g = rowScale[r]!;
    const l = lse[r]!;
    for (let j = 0; j < vocab; j++) dlogits[o + j] = Math.exp(logits[o + j]! - l) * g;
    dlogits[o + t]! -= g;
  }
}

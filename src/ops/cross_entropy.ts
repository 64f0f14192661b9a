// Cross-entropy of logits against integer targets, fused with log-softmax.
//
// Memory: the forward keeps the logits (already alive) and one log-sum-exp per row; the backward
// writes softmax - onehot directly as the gradient. The probabilities are never stored on their
// own, so a 128k vocabulary costs the logits and their gradient and nothing more.
import { getBackend } from '../backend/index.js';
import { record } from '../tensor/autograd.js';
import { shapeString } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { GiftjsError } from '../errors.js';

export interface CrossEntropyOptions {
  /** Rows whose target equals this are skipped (PyTorch's default, -100). */
  ignoreIndex?: number;
  /**
   * 'mean' over the rows that are not ignored (NaN when every row is ignored, as PyTorch),
   * 'sum', or 'none' (one loss per row, 0 for ignored rows).
   */
  reduction?: 'mean' | 'sum' | 'none';
}

/** logits [..., vocab]; targets holds one id per row (the product of the leading dimensions). */
export function crossEntropy(logits: Tensor, targets: Int32Array | readonly number[], options: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = options.ignoreIndex ?? -100;
  const reduction = options.reduction ?? 'mean';
  if (logits.rank < 1) throw new GiftjsError('crossEntropy: logits must have rank >= 1');
  const vocab = logits.shape[logits.rank - 1]!;
  const rows = vocab === 0 ? 0 : logits.size / vocab;
  if (targets.length !== rows) {
    throw new GiftjsError(`crossEntropy: logits ${shapeString(logits.shape)} have ${rows} rows but ${targets.length} targets were given`);
  }
  const t = targets instanceof Int32Array ? targets : Int32Array.from(targets);
  const perRow = Tensor.empty([rows]);
  const lse = Tensor.empty([rows]);
  getBackend().crossEntropyForward(logits.data, t, perRow.data, lse.data, rows, vocab, ignoreIndex);
  let counted = 0;
  for (let r = 0; r < rows; r++) if (t[r] !== ignoreIndex) counted++;

  let out: Tensor;
  if (reduction === 'none') {
    out = perRow;
  } else {
    let total = 0;
    for (let r = 0; r < rows; r++) total += perRow.data[r]!;
    out = Tensor.scalar(reduction === 'sum' ? total : total / counted);
    perRow.dispose();
  }
  return record('crossEntropy', out, [logits], (g) => {
    const rowScale = Tensor.empty([rows]);
    for (let r = 0; r < rows; r++) {
      rowScale.data[r] = reduction === 'none' ? g.data[r]! : reduction === 'sum' ? g.data[0]! : g.data[0]! / counted;
    }
    const dlogits = Tensor.empty(logits.shape);
    getBackend().crossEntropyBackward(logits.data, t, lse.data, rowScale.data, dlogits.data, rows, vocab, ignoreIndex);
    rowScale.dispose();
    return [dlogits];
  }, [lse]);
}

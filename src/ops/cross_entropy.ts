// Cross-entropy of logits against integer targets, fused with log-softmax.
//
// Memory: the forward keeps the logits (already alive) and one log-sum-exp per row; the backward
// writes softmax - onehot directly as the gradient. The probabilities are never stored on their
// own, so a 128k vocabulary costs the logits and their gradient and nothing more.
import { BinaryOp } from '../backend/backend.js';
import { getBackend } from '../backend/index.js';
import { record } from '../tensor/autograd.js';
import { shapeString } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { GiftjsError, refuseUnknownOptions } from '../errors.js';

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
/**
 * The targets as an Int32Array. A plain array's 1.5 or NaN would become 1 or 0 there, silently:
 * refused instead, by row.
 */
export function targetIds(targets: Int32Array | readonly number[], op: string): Int32Array {
  if (targets instanceof Int32Array) return targets;
  const bad = targets.findIndex((v) => !Number.isInteger(v));
  if (bad >= 0) throw new GiftjsError(`${op}: target ${targets[bad]} at row ${bad} is not a whole token id`);
  return Int32Array.from(targets);
}

export function crossEntropy(logits: Tensor, targets: Int32Array | readonly number[], options: CrossEntropyOptions = {}): Tensor {
  refuseUnknownOptions(options, ['ignoreIndex', 'reduction'], 'crossEntropy');
  const ignoreIndex = options.ignoreIndex ?? -100;
  const reduction = options.reduction ?? 'mean';
  if (logits.rank < 1) throw new GiftjsError('crossEntropy: logits must have rank >= 1');
  const vocab = logits.shape[logits.rank - 1]!;
  const rows = vocab === 0 ? 0 : logits.size / vocab;
  if (targets.length !== rows) {
    throw new GiftjsError(`crossEntropy: logits ${shapeString(logits.shape)} have ${rows} rows but ${targets.length} targets were given`);
  }
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') throw new GiftjsError(`crossEntropy: reduction must be mean, sum or none, got '${String(reduction)}'`);
  const t = targetIds(targets, 'crossEntropy');
  const perRow = Tensor.empty([rows]);
  const lse = Tensor.empty([rows]);
  getBackend().crossEntropyForward(logits.buffer, t, perRow.buffer, lse.buffer, rows, vocab, ignoreIndex);
  let counted = 0;
  for (let r = 0; r < rows; r++) if (t[r] !== ignoreIndex) counted++;

  let out: Tensor;
  if (reduction === 'none') {
    out = perRow;
  } else {
    // The mean over counted rows: NaN when none counts (0 * Infinity), as PyTorch.
    out = Tensor.empty([]);
    getBackend().reduceSum([rows], perRow.buffer, [0], out.buffer, reduction === 'sum' ? 1 : 1 / counted);
    perRow.dispose();
  }
  return record('crossEntropy', out, [logits], (g) => {
    // Each row's share of the upstream gradient: its own ('none'), or the scalar's (times 1/counted for 'mean').
    let rowScale = g;
    if (reduction === 'sum') {
      rowScale = Tensor.empty([rows]);
      getBackend().copyStrided([rows], g.buffer, [0], rowScale.buffer);
    } else if (reduction === 'mean') {
      rowScale = Tensor.empty([rows]);
      const divisor = Tensor.scalar(counted);
      getBackend().binary(BinaryOp.Div, [rows], g.buffer, [0], divisor.buffer, [0], rowScale.buffer);
      divisor.dispose();
    }
    const dlogits = Tensor.empty(logits.shape);
    getBackend().crossEntropyBackward(logits.buffer, t, lse.buffer, rowScale.buffer, dlogits.buffer, rows, vocab, ignoreIndex);
    if (rowScale !== g) rowScale.dispose();
    return [dlogits];
  }, [lse]);
}

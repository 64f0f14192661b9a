// Sequence classification and regression: cross-entropy over the classes (or squared error for a
// one-output regression, as transformers' problem_type "regression"), summed over examples.
import { epochGroups, lengthSortedBatches } from '../../data/batches.js';
import { collateSeqCls, type LabelSpace, type SeqClsBatch, type SeqClsExample } from '../../data/seqcls.js';
import type { SequenceClassifier } from '../../models/encoder.js';
import { crossEntropy } from '../../ops/cross_entropy.js';
import { mul, sub } from '../../ops/elementwise.js';
import { sum } from '../../ops/reduce.js';
import { Tensor } from '../../tensor/tensor.js';
import type { TrainTask } from '../task.js';

/** Summed loss of a batch: cross-entropy for classes, squared error for regression. */
export function sequenceClassificationLoss(logits: Tensor, labels: readonly number[], space: LabelSpace): Tensor {
  if (space.kind === 'classification') return crossEntropy(logits, labels, { reduction: 'sum' });
  const diff = sub(logits, Tensor.fromArray(labels, [labels.length, 1]));
  return sum(mul(diff, diff));
}

export function sequenceClassificationTask(model: SequenceClassifier, space: LabelSpace, train: SeqClsExample[], heldOut?: SeqClsExample[]): TrainTask<SeqClsBatch> {
  return {
    trainSize: train.length,
    heldOutSize: heldOut?.length ?? 0,
    epochBatches: (batchSize, seed, epoch) => epochGroups(train, batchSize, seed, epoch).map(collateSeqCls),
    heldOutBatches: (batchSize) => lengthSortedBatches(heldOut ?? [], batchSize, collateSeqCls),
    lossSum: (b) => sequenceClassificationLoss(model.logits(b), b.labels, space),
    units: (b) => b.batch,
    inputTokens: (b) => b.batch * b.seq,
    ...(space.kind === 'classification' ? { uniformLoss: Math.log(space.names.length) } : {}),
  };
}

export type { SequenceClassifier };

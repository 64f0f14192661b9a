// Next-token prediction: the loss is cross-entropy summed over the target tokens (after the shift).
import { collate, epochBatches, epochGroups, lengthSortedBatches, type Batch } from '../../data/batches.js';
import { collatePacked, packExamples } from '../../data/packing.js';
import type { Example } from '../../data/examples.js';
import type { CausalLM } from '../../models/causal_lm.js';
import { shiftLabels } from '../../models/causal_lm.js';
import type { TrainTask } from '../task.js';

/**
 * `pack`: training examples are packed into rows of up to this many tokens (data/packing.ts), once, in
 * their order; the rows are what each epoch shuffles and batches. Held-out examples stay one per row.
 */
export function causalLMTask(model: CausalLM, train: Example[], heldOut: Example[] | undefined, padId: number, pack?: number): TrainTask<Batch> {
  const rows = pack ? packExamples(train, pack) : null;
  return {
    trainSize: rows ? rows.length : train.length,
    heldOutSize: heldOut?.length ?? 0,
    epochBatches: (batchSize, seed, epoch) => (rows
      ? epochGroups(rows, batchSize, seed, epoch).map((g) => collatePacked(g, padId))
      : epochBatches(train, batchSize, seed, epoch, padId)),
    heldOutBatches: (batchSize) => lengthSortedBatches(heldOut ?? [], batchSize, (g) => collate(g, padId)),
    lossSum: (b) => model.loss(b.ids, b.batch, b.seq, shiftLabels(b.labels, b.batch, b.seq), { reduction: 'sum', segments: b.segments }),
    units: (b) => b.targetTokens,
    inputTokens: (b) => b.batch * b.seq,
    uniformLoss: Math.log(model.config.vocabSize),
  };
}

// Next-token prediction: the loss is cross-entropy summed over the target tokens (after the shift).
import { collate, epochBatches, lengthSortedBatches, type Batch } from '../../data/batches.js';
import type { Example } from '../../data/examples.js';
import type { CausalLM } from '../../models/causal_lm.js';
import { shiftLabels } from '../../models/llama/model.js';
import type { TrainTask } from '../task.js';

export function causalLMTask(model: CausalLM, train: Example[], heldOut: Example[] | undefined, padId: number): TrainTask<Batch> {
  return {
    trainSize: train.length,
    heldOutSize: heldOut?.length ?? 0,
    epochBatches: (batchSize, seed, epoch) => epochBatches(train, batchSize, seed, epoch, padId),
    heldOutBatches: (batchSize) => lengthSortedBatches(heldOut ?? [], batchSize, (g) => collate(g, padId)),
    lossSum: (b) => model.loss(b.ids, b.batch, b.seq, shiftLabels(b.labels, b.batch, b.seq), { reduction: 'sum' }),
    units: (b) => b.targetTokens,
    inputTokens: (b) => b.batch * b.seq,
    uniformLoss: Math.log(model.config.vocabSize),
  };
}

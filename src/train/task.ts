// What the training loop needs from a task: seeded batches, a loss summed over a batch's units
// (target tokens for a language model, examples for a classifier) and how many units that is, so
// that gradient accumulation weights every unit equally.
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';

export interface TrainTask<B = unknown> {
  /** Number of training examples (sets the number of batches per epoch). */
  readonly trainSize: number;
  /** Number of held-out examples (0: no held-out evaluation). */
  readonly heldOutSize: number;
  /** The training batches of one epoch, in a deterministic order for (seed, epoch). */
  epochBatches(batchSize: number, seed: number, epoch: number): B[];
  /** The held-out batches, in a fixed order (empty when there is no held-out set). */
  heldOutBatches(batchSize: number): B[];
  /** The loss summed over the batch's units (a scalar tensor on the tape). */
  lossSum(batch: B): Tensor;
  /** How many units lossSum sums. */
  units(batch: B): number;
  /** Token positions the model reads (for throughput). */
  inputTokens(batch: B): number;
  /**
   * The loss of a uniform prediction, ln(classes) (ln(vocabulary) for a language model), when the
   * task has one: a loss that falls below it and later returns to it is the mark of a collapsed
   * model (every output equal), which the trainer warns of.
   */
  readonly uniformLoss?: number;
}

/** The held-out loss per unit (token or example), in fixed order, without a graph; NaN without held-out data. */
export async function taskHeldOutLoss<B>(task: TrainTask<B>, batchSize: number): Promise<{ loss: number; units: number }> {
  let total = 0;
  let units = 0;
  for (const b of task.heldOutBatches(batchSize)) {
    total += await readScalar(tidy(() => noGrad(() => task.lossSum(b))));
    units += task.units(b);
  }
  return { loss: total / units, units };
}

/** A scalar tensor's value, read at the host boundary every backend offers (asynchronous), then disposed. */
export async function readScalar(t: Tensor): Promise<number> {
  try {
    return (await t.readAsync())[0]!;
  } finally {
    t.dispose();
  }
}

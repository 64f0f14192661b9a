// Scoring classifiers (sequences, images) on labelled examples: the mean loss and GLUE's metrics (accuracy,
// F1 of class 1 and Matthews correlation for classes; Pearson and Spearman for a regression).
import { GiftjsError } from '../errors.js';
import { checkBatchSize, lengthSortedBatches } from '../data/batches.js';
import { collateSeqCls, type LabelSpace, type SeqClsExample } from '../data/seqcls.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { sequenceClassificationLoss, type SequenceClassifier } from '../train/tasks/sequence_classification.js';
import type { ImageExample } from '../data/images.js';
import { imagesToPatches, type ViTForImageClassification } from '../models/vit/model.js';
import { crossEntropy } from '../ops/cross_entropy.js';
import { collateImages } from '../train/tasks/image_classification.js';
import { accuracy, argmax, f1Score, matthewsCorrelation, pearson, spearman } from './metrics.js';

export interface ClassificationMetrics {
  examples: number;
  loss: number;
  accuracy?: number;
  f1?: number;
  mcc?: number;
  pearson?: number;
  spearman?: number;
}

export interface ClassificationResult {
  metrics: ClassificationMetrics;
  /** Predicted class (or value) per example, in input order. */
  predictions: number[];
}

/**
 * Loss and logits of one batch on the host. Asynchronous: a device backend's memory reaches the
 * host only so (the CPU backends answer at once).
 */
async function lossAndLogits(compute: () => [Tensor, Tensor]): Promise<{ loss: number; logits: Float32Array; width: number }> {
  const [loss, logits] = tidy(() => noGrad(compute));
  try {
    return { loss: (await loss.readAsync())[0]!, logits: Float32Array.from(await logits.readAsync()), width: logits.shape[1]! };
  } finally {
    loss.dispose();
    logits.dispose();
  }
}

export async function evaluateSequenceClassifier(model: SequenceClassifier, examples: SeqClsExample[], space: LabelSpace, batchSize = 32): Promise<ClassificationResult> {
  const predictions = new Array<number>(examples.length);
  // In held-out scoring's length order (lengthSortedBatches: longest first, little padding); results go
  // back to input order.
  const groups = lengthSortedBatches(examples.map((e, k) => ({ ids: e.ids, k })), batchSize, (g) => g.map((e) => e.k));
  let lossSum = 0;
  for (const idx of groups) {
    const batch = collateSeqCls(idx.map((k) => examples[k]!));
    const { loss, logits, width: L } = await lossAndLogits(() => {
      const logits = model.logits(batch);
      return [sequenceClassificationLoss(logits, batch.labels, space), logits];
    });
    lossSum += loss;
    idx.forEach((k, r) => {
      const row = logits.subarray(r * L, (r + 1) * L);
      if (space.kind === 'regression' && !Number.isFinite(row[0]!)) throw new GiftjsError(`the model's score for example ${k + 1} is ${row[0]}: its weights or the adapter's are not finite`);
      predictions[k] = space.kind === 'regression' ? row[0]! : argmax(row);
    });
  }
  const gold = examples.map((e) => e.label);
  const metrics: ClassificationMetrics = { examples: examples.length, loss: lossSum / examples.length };
  if (space.kind === 'regression') {
    metrics.pearson = pearson(predictions, gold);
    metrics.spearman = spearman(predictions, gold);
  } else {
    metrics.accuracy = accuracy(predictions, gold);
    if (space.names.length === 2) metrics.f1 = f1Score(predictions, gold, 1);
    metrics.mcc = matthewsCorrelation(predictions, gold);
  }
  return { metrics, predictions };
}

/** One line: "accuracy 91.20%  F1 0.8870  MCC 0.8012  loss 0.2311". */
export function formatMetrics(m: ClassificationMetrics): string {
  const parts: string[] = [];
  if (m.accuracy !== undefined) parts.push(`accuracy ${(100 * m.accuracy).toFixed(2)}%`);
  if (m.f1 !== undefined) parts.push(`F1 ${m.f1.toFixed(4)}`);
  if (m.mcc !== undefined) parts.push(`MCC ${m.mcc.toFixed(4)}`);
  if (m.pearson !== undefined) parts.push(`Pearson ${m.pearson.toFixed(4)}`);
  if (m.spearman !== undefined) parts.push(`Spearman ${m.spearman.toFixed(4)}`);
  parts.push(`loss ${m.loss.toFixed(4)}`);
  return parts.join('  ');
}

/** Accuracy and mean loss of an image classifier (predictions in input order). */
export async function evaluateImageClassifier(model: ViTForImageClassification, examples: ImageExample[], batchSize = 64): Promise<ClassificationResult> {
  checkBatchSize(batchSize);
  const predictions: number[] = [];
  let lossSum = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    const b = collateImages(examples.slice(i, i + batchSize));
    const { loss, logits, width: L } = await lossAndLogits(() => {
      const logits = model.forward(imagesToPatches(b.pixels, b.batch, model.config));
      return [crossEntropy(logits, b.labels, { reduction: 'sum' }), logits];
    });
    lossSum += loss;
    for (let r = 0; r < b.batch; r++) predictions.push(argmax(logits.subarray(r * L, (r + 1) * L)));
  }
  const gold = examples.map((e) => e.label);
  return { metrics: { examples: examples.length, loss: lossSum / examples.length, accuracy: accuracy(predictions, gold) }, predictions };
}

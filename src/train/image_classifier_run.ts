// Fine-tuning a ViT for image classification end to end (gift train --task imgcls, the vision
// run): a model folder and image sets in; adapter (with its head and label names), metrics,
// log and loss curve out.
import type { FineTuneRunSettings } from './run_settings.js';
import { GiftjsError } from '../errors.js';
import { join } from 'node:path';
import type { ImageExample, ImageSet } from '../data/images.js';
import { evaluateImageClassifier, type ClassificationMetrics } from '../eval/classification.js';
import type { ViTForImageClassification } from '../models/vit/model.js';
import { loadImageClassifier } from '../models/registry.js';
import { adapterFileChunks, attachAdapter, saveAdapterAsync } from '../peft/adapter_io.js';
import { withTrainedHead } from '../peft/modules_to_save.js';
import type { AttachedAdapter } from '../peft/method.js';
import { checkpointLabelNames, labelOrder } from './label_order.js';
import { writeTrainingReport } from './report.js';
import { imageClassificationTask } from './tasks/image_classification.js';
import { trainModel, type TrainResult } from './trainer.js';
import { assertClassifierFits } from './classifier_memory.js';
import { describeEstimate, memoryBudget } from './memory_estimate.js';
import { peakResidentBytes } from '../io/system_memory.js';

export interface ImageClassifierRunOptions extends FineTuneRunSettings {
  modelDir: string;
  train: ImageSet;
  validation?: ImageSet;
  test?: ImageSet;
  outDir?: string;
  /** Stochastic depth's rate, timm's drop_path_rate (ViTForImageClassification.setDropPath); absent: 0. */
  dropPath?: number;
}

export interface ImageClassifierRunResult {
  model: ViTForImageClassification;
  adapter: AttachedAdapter;
  training: TrainResult;
  validation?: ClassificationMetrics;
  test?: ClassificationMetrics;
}

export async function fineTuneImageClassifier(given: ImageClassifierRunOptions): Promise<ImageClassifierRunResult> {
  // Refused before anything is read or loaded (the CLI refuses --drop-path as it parses it).
  if (given.dropPath !== undefined && !(given.dropPath >= 0 && given.dropPath < 1)) {
    throw new GiftjsError(`fineTuneImageClassifier: dropPath (timm's drop_path_rate) must be in [0, 1), got ${given.dropPath}`);
  }
  const o = inCheckpointLabelOrder(given);
  const seen = new Set(o.train.examples.map((e) => e.label));
  if (seen.size < 2) throw new GiftjsError(`the training images' ${o.train.examples.length} examples all have one label (${JSON.stringify(o.train.labels[[...seen][0] ?? 0])}): a classifier needs examples of at least two classes`);
  // Memory known before it is spent: a step's, from a dry run over the model's shapes, refused here
  // (naming what would fit) rather than killed by the system mid-run.
  // (No batch holds more images than its set: a --batch-size past them had been dry-run as given.)
  const largestBatch = Math.min(o.options.batchSize, Math.max(o.train.examples.length, o.validation?.examples.length ?? 0, o.test?.examples.length ?? 0));
  const estimate = assertClassifierFits(o.modelDir, { kind: 'image-classifier', batch: largestBatch, length: 0, numLabels: o.train.labels.length, method: o.method },
    o.memory ?? memoryBudget(undefined), o.names === 'flags' ? 'gift train' : 'fineTuneImageClassifier', o.names ?? 'options');
  o.log?.(`memory: about ${describeEstimate(estimate)}`);
  const model = loadImageClassifier(o.modelDir, { labels: o.train.labels, seed: o.options.seed });
  const dropPath = o.dropPath ?? 0;
  model.setDropPath(dropPath);
  const config = withTrainedHead(o.method);
  const adapter = attachAdapter(model, config, o.options.seed, 'method config');
  const training = await trainModel({
    model, adapter, task: imageClassificationTask(model, o.train.examples, o.validation?.examples), options: o.options,
    outDir: o.outDir, resume: o.resume, callbacks: o.callbacks, signal: o.signal,
    fingerprint: JSON.stringify({ modelDir: o.modelDir, config, options: o.options, n: o.train.examples.length, ...(dropPath ? { dropPath } : {}) }),
    inputs: o.inputs,
    adapterFiles: () => adapterFileChunks(adapter, { path: o.modelDir, architecture: 'ViTForImageClassification', naming: model.adapterNaming() }, { task: { type: 'imgcls', id2label: o.train.labels } }),
  });
  const result: ImageClassifierRunResult = { model, adapter, training };
  if (o.validation) result.validation = (await evaluateImageClassifier(model, o.validation.examples)).metrics;
  if (o.test) result.test = (await evaluateImageClassifier(model, o.test.examples)).metrics;
  if (o.outDir) {
    await saveAdapterAsync(join(o.outDir, 'adapter'), adapter, { path: o.modelDir, architecture: 'ViTForImageClassification', naming: model.adapterNaming() }, { task: { type: 'imgcls', id2label: o.train.labels } });
    writeTrainingReport(o.outDir, adapter, training, o.options, `${adapter.method} on ${o.modelDir}`, {
      validation: result.validation ?? null, test: result.test ?? null, memory_estimate_mb: Math.round(estimate.bytes / 1e6), peak_rss_mb: Math.round(peakResidentBytes() / 1e6),
    });
  }
  return result;
}

/** The run with its sets' labels in the checkpoint's order where the checkpoint names them all (label_order.ts). */
function inCheckpointLabelOrder(o: ImageClassifierRunOptions): ImageClassifierRunOptions {
  const order = labelOrder(o.train.labels, checkpointLabelNames(o.modelDir));
  if (order.note) o.log?.(order.note);
  if (order.names === o.train.labels) return o;
  const row = o.train.labels.map((n) => order.names.indexOf(n));
  // (A loaded image makes its pixels at each read, by a getter, which a spread copy would lose.)
  const relabelled = (e: ImageExample): ImageExample => ({ get pixels() { return e.pixels; }, label: row[e.label]!, where: e.where });
  const remap = (set: ImageSet | undefined): ImageSet | undefined => set && { labels: order.names, examples: set.examples.map(relabelled) };
  return { ...o, train: remap(o.train)!, validation: remap(o.validation), test: remap(o.test) };
}

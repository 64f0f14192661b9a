// gift train on a ViT folder, gift eval --task imgcls: image classification with a ViT folder (Hugging Face or timm) on
// a folder per class, a JSON list of {"image", "label"}, or IDX files (MNIST, Fashion-MNIST).
import { writeFilesAtomic } from '../io/atomic.js';
import { join } from 'node:path';
import { loadImageDataset, readPreprocessing, type ImageSet } from '../data/images.js';
import { memoryBudget } from '../train/memory_estimate.js';
import { evaluateImageClassifier, formatMetrics } from '../eval/classification.js';
import { readViTConfig } from '../models/vit/model.js';
import { loadImageClassifier } from '../models/registry.js';
import { ADAPTER_CONFIG, loadAdapter, readAdapterConfig } from '../peft/adapter_io.js';
import { fineTuneImageClassifier } from '../train/image_classifier_run.js';
import type { TrainCallbacks, TrainOptions } from '../train/trainer.js';
import { intOption, listOption } from './args.js';
import { reportClassifierRun } from './classifier_report.js';
import { assertClassifierEvalFits } from './classifier_eval_memory.js';
import { GiftjsError } from '../errors.js';

export const IMGCLS_TRAIN_HELP = `  A ViT folder (Hugging Face ViTForImageClassification or timm vit_*) trains an image classifier:
    --data/--eval-data/--test-data: a folder with a sub-folder per class, a JSON list of {"image", "label"}, or an
    IDX images file (train-images-idx3-ubyte.gz; its labels file beside it). Images are resized and normalised as the
    folder's preprocessor_config.json says. Default targets: attention.output.dense (timm: attn.proj).
    --drop-path R: stochastic depth as timm's drop_path_rate (block i of n drops each image's attention and MLP
    branches with probability R i / (n - 1)) in training; default 0 (the vit-gift preset: the paper's 0.1).`;

/** An image set at the model's size, refused before decoding when it would pass the budget (--memory-limit, else the machine's). */
async function loadSet(modelDir: string, path: string, memoryLimit: unknown, labels?: string[]): Promise<ImageSet> {
  const { config } = readViTConfig(modelDir);
  return loadImageDataset(path, readPreprocessing(modelDir, config.imageSize, config.numChannels), labels, memoryBudget(memoryLimit as string | undefined));
}

export async function trainImageClassification(c: {
  values: Record<string, unknown>; modelDir: string; dataPath: string; out: string; options: TrainOptions; methodConfig: Record<string, unknown>;
  /** Stochastic depth's rate (--drop-path, else the preset's, else 0). */
  dropPath: number;
  callbacks: TrainCallbacks; onDone: () => void; signal?: AbortSignal;
}): Promise<number> {
  const v = c.values;
  if (listOption(v.targets) === null && 'target_modules' in c.methodConfig) c.methodConfig.target_modules = ['attention.output.dense'];
  const train = await loadSet(c.modelDir, c.dataPath, v['memory-limit']);
  const validation = typeof v['eval-data'] === 'string' ? await loadSet(c.modelDir, v['eval-data'], v['memory-limit'], train.labels) : undefined;
  const test = typeof v['test-data'] === 'string' ? await loadSet(c.modelDir, v['test-data'], v['memory-limit'], train.labels) : undefined;
  console.error(`train: ${train.examples.length} images, ${train.labels.length} classes${validation ? `; validation ${validation.examples.length}` : ''}${test ? `; test ${test.examples.length}` : ''}`);
  const r = await fineTuneImageClassifier({ modelDir: c.modelDir, train, validation, test, method: c.methodConfig, options: c.options, outDir: c.out, dropPath: c.dropPath, resume: v.resume === true, callbacks: c.callbacks, signal: c.signal,
    memory: memoryBudget(v['memory-limit'] as string | undefined), names: 'flags', log: (line) => console.error(line),
    inputs: { model: c.modelDir, data: c.dataPath, 'eval-data': v['eval-data'] as string | undefined, 'test-data': v['test-data'] as string | undefined } });
  c.onDone();
  return reportClassifierRun(r, c.out, v.json === true);
}

export async function evalImageClassification(values: Record<string, unknown>, modelDir: string, dataPath: string): Promise<number> {
  if (typeof values.adapter !== 'string') throw new GiftjsError('--task imgcls needs --adapter: the adapter folder gift train wrote for the ViT (it holds the head and the label names)');
  const raw = readAdapterConfig(values.adapter);
  const labels = (raw.task as { id2label?: string[] } | undefined)?.id2label;
  if (!labels) throw new GiftjsError(`${join(values.adapter, ADAPTER_CONFIG)}: not an image-classification adapter (no task.id2label)`);
  const set = await loadSet(modelDir, dataPath, values['memory-limit'], labels);
  const batchSize = intOption(values['batch-size'], 'batch-size', 64);
  assertClassifierEvalFits(modelDir, values.adapter, { kind: 'image-classifier', batch: Math.max(1, Math.min(batchSize, set.examples.length)), length: 0, numLabels: labels.length }, values['memory-limit']);
  const model = loadImageClassifier(modelDir, { labels });
  loadAdapter(values.adapter, model);
  const { metrics, predictions } = await evaluateImageClassifier(model, set.examples, batchSize);
  console.log(`${dataPath}: ${set.examples.length} images`);
  console.log(formatMetrics(metrics));
  if (typeof values.out === 'string') {
    writeFilesAtomic(values.out, {
      'predictions.jsonl': `${set.examples.map((e, i) => JSON.stringify({ where: e.where, prediction: labels[predictions[i]!], gold: labels[e.label] })).join('\n')}\n`,
      'metrics.json': `${JSON.stringify({ task: 'imgcls', data: dataPath, adapter: values.adapter, ...metrics }, null, 2)}\n`,
    });
  }
  if (values.json) console.log(JSON.stringify(metrics));
  return 0;
}

// Fine-tuning an encoder for sequence classification end to end, as `gift train --task seqcls`
// and the demo do it: labelled records in; a trained adapter (with its head and label names),
// metrics on the validation and test records, log, metrics.json and loss curve out.
import type { FineTuneRunSettings } from './run_settings.js';
import { join } from 'node:path';
import type { DataRecord } from '../data/examples.js';
import { buildSeqClsExamples, detectSeqClsFields, labelSpaceOf, type LabelSpace, type SeqClsExample } from '../data/seqcls.js';
import { evaluateSequenceClassifier, type ClassificationMetrics } from '../eval/classification.js';
import { Tokenizer } from '../io/tokenizer.js';
import { buildClassifierShapes, loadSequenceClassifier, modelArchitecture, type LoadOptions, type ModelKind } from '../models/registry.js';
import type { SequenceClassifier } from '../models/encoder.js';
import type { Module } from '../nn/module.js';
import { peakResidentBytes } from '../io/system_memory.js';
import { assertClassifierFits } from './classifier_memory.js';
import { describeEstimate, memoryBudget, type MemoryEstimate } from './memory_estimate.js';
import { adapterFileChunks, attachAdapter, saveAdapterAsync } from '../peft/adapter_io.js';
import { withTrainedHead } from '../peft/modules_to_save.js';
import type { AttachedAdapter } from '../peft/method.js';
import { checkpointLabelNames, labelOrder } from './label_order.js';
import { writeTrainingReport } from './report.js';
import { sequenceClassificationTask } from './tasks/sequence_classification.js';
import { trainModel, type TrainResult } from './trainer.js';
import { GiftjsError } from '../errors.js';

/** How a trained classifier reads its data; saved in adapter_config.json as "task". */
export interface ClassifierTaskInfo {
  type: 'seqcls';
  problem_type: 'single_label_classification' | 'regression';
  id2label: string[];
  text_fields: string[];
  label_field: string;
  max_length: number;
  /** A sentence encoder's pair head (each text encoded alone); absent or false: one sequence. */
  pair_head?: boolean;
}

export interface ClassifierRunOptions extends FineTuneRunSettings {
  modelDir: string;
  train: DataRecord[];
  /** Held-out loss during training, and metrics at the end. */
  validation?: DataRecord[];
  /** Metrics at the end only. */
  test?: DataRecord[];
  textFields?: string[];
  labelField?: string;
  regression?: boolean;
  /** Tokens an example is cut to: default 128, or the model's positions where it has fewer (SequenceClassifier.maxTokens). */
  maxLength?: number;
  outDir?: string;
}

export interface ClassifierRunResult {
  adapter: AttachedAdapter;
  labels: LabelSpace;
  task: ClassifierTaskInfo;
  training: TrainResult;
  validation?: ClassificationMetrics;
  test?: ClassificationMetrics;
}

export function taskInfoFromAdapterConfig(raw: Record<string, unknown>, source: string): ClassifierTaskInfo {
  const t = raw.task as ClassifierTaskInfo | undefined;
  if (!t || t.type !== 'seqcls' || !Array.isArray(t.id2label) || !Array.isArray(t.text_fields)) {
    throw new GiftjsError(`${source}: not a sequence-classification adapter (no "task": {"type": "seqcls", ...}); train one with gift train --task seqcls`);
  }
  // The length the classifier was trained at is the length it reads at (gift eval, gift explain).
  if (!Number.isInteger(t.max_length) || t.max_length < 1) throw new GiftjsError(`${source}: task.max_length must be a whole number of tokens >= 1 (the length the classifier was trained with), got ${JSON.stringify(t.max_length ?? null)}`);
  return t;
}

/** A classifier adapter's task as adapter_config.json holds it (its head: labels, regression, pair head). */
export interface AdapterTask {
  type?: string;
  id2label?: string[];
  problem_type?: string;
  pair_head?: boolean;
}

/**
 * The head a classifier adapter was trained with, as the loaders take it: an image classifier's
 * labels, a sequence classifier's outputs (one score for a regression) and pair head. (gift merge,
 * inspect and explain each derived it; inspect's had given an image classifier without labels one.)
 */
export function headOptionsOfTask(task: AdapterTask | undefined, kind: 'sequence-classifier'): { numLabels: number; pairs: boolean };
export function headOptionsOfTask(task: AdapterTask | undefined, kind: 'image-classifier'): { labels?: string[] };
export function headOptionsOfTask(task: AdapterTask | undefined, kind: Exclude<ModelKind, 'causal-lm'>): LoadOptions;
export function headOptionsOfTask(task: AdapterTask | undefined, kind: Exclude<ModelKind, 'causal-lm'>): LoadOptions {
  if (kind === 'image-classifier') return task?.id2label ? { labels: task.id2label } : {};
  return { numLabels: task?.problem_type === 'regression' ? 1 : task?.id2label?.length ?? 1, pairs: task?.pair_head === true };
}

export function labelSpaceOfTask(t: ClassifierTaskInfo): LabelSpace {
  return { kind: t.problem_type === 'regression' ? 'regression' : 'classification', names: t.id2label };
}

export async function fineTuneClassifier(o: ClassifierRunOptions): Promise<ClassifierRunResult> {
  const log = o.log ?? (() => {});
  if (o.train.length === 0) throw new GiftjsError('sequence classification: no training records');
  const detected = detectSeqClsFields(o.train[0]!);
  const textFields = o.textFields ?? detected.textFields;
  const labelField = o.labelField ?? detected.labelField;
  if (!labelField) throw new GiftjsError(`${o.train[0]!.where}: no label field found (tried label, score); name it with labelField (--label-field)`);
  let labels = labelSpaceOf(o.train, labelField, o.regression ?? false);
  if (labels.kind === 'classification') {
    const order = labelOrder(labels.names, checkpointLabelNames(o.modelDir));
    if (order.note) log(order.note);
    labels = { ...labels, names: order.names };
  }
  const seen = new Set(o.train.map((r) => String(r.value[labelField])));
  if (labels.kind === 'classification' && seen.size < 2) {
    throw new GiftjsError(`the training data's ${o.train.length} records all have the label ${JSON.stringify([...seen][0])} (field '${labelField}'): a classifier needs examples of at least two classes (or regression, --regression, for a number to predict)`);
  }
  const tokenizer = Tokenizer.fromFolder(o.modelDir);
  const numLabels = labels.kind === 'regression' ? 1 : labels.names.length;
  const pairs = textFields.length === 2;
  // The model's shapes (nothing read) say how many tokens it reads and, below, what a step holds; a
  // registered family without shapes is loaded here instead.
  const shapes = buildClassifierShapes(o.modelDir, 'sequence-classifier', { numLabels, pairs }) as (SequenceClassifier & Module) | null;
  let model = shapes ? null : loadSequenceClassifier(o.modelDir, numLabels, o.options.seed, pairs);
  const maxTokens = (shapes ?? model)!.maxTokens;
  // The default is 128 tokens, or the model's positions where it has fewer (a length past them had
  // stopped training at the first long enough batch, naming a flag the user had not given).
  if (o.maxLength !== undefined && o.maxLength > maxTokens) {
    throw new GiftjsError(`maxLength (--max-length) ${o.maxLength} is past the ${maxTokens} tokens ${o.modelDir} reads (its position embeddings); give at most ${maxTokens}`);
  }
  const maxLength = o.maxLength ?? Math.min(128, maxTokens);
  const encode = (records: DataRecord[] | undefined, name: string): SeqClsExample[] | undefined => {
    if (!records) return undefined;
    const set = buildSeqClsExamples(records, tokenizer, { textFields, labelField, labels, maxLength });
    log(`${name}: ${records.length} records (${textFields.join(' + ')} -> ${labelField})${set.truncated ? `; ${set.truncated} cut to ${maxLength} tokens` : ''}`);
    return set.examples;
  };
  const train = encode(o.train, 'train')!;
  const validation = encode(o.validation, 'validation');
  const test = encode(o.test, 'test');
  log(`labels: ${labels.kind === 'regression' ? `regression on '${labelField}'` : labels.names.join(', ')}`);

  // Memory known before it is spent: a step over the longest batch the data makes, refused here (naming
  // what would fit) rather than killed by the system mid-run.
  // (In a browser there is no system memory to read, and a GPU's is another: no budget unless one is given.)
  const budget = o.memory ?? (typeof process === 'undefined' ? null : memoryBudget(undefined));
  let estimate: MemoryEstimate | null = null;
  if (shapes && budget) {
    const longest = Math.max(1, ...[train, validation ?? [], test ?? []].flatMap((set) => set.map((e) => e.ids.length)));
    // (No batch holds more texts than its set: an absurd --batch-size had been dry-run as given, its
    // token ids made on the host.)
    const largestBatch = Math.min(o.options.batchSize, Math.max(train.length, validation?.length ?? 0, test?.length ?? 0));
    estimate = assertClassifierFits(o.modelDir, { kind: 'sequence-classifier', batch: largestBatch, length: longest, numLabels, regression: labels.kind === 'regression', pairs, method: o.method },
      budget, o.names === 'flags' ? 'gift train' : 'fineTuneClassifier', o.names ?? 'options');
    log(`memory: about ${describeEstimate(estimate)}`);
  } else {
    log(`memory: not estimated (${shapes ? 'no system memory to read here; give memory to set a budget' : `the model family of ${o.modelDir} builds no shapes`})`);
  }
  model ??= loadSequenceClassifier(o.modelDir, numLabels, o.options.seed, pairs);
  const pairHead = model.pairHead === true;
  if (pairHead) log('pairs: each text encoded alone, the head reads [u, v, (u-v)^2, u*v] of the two embeddings');
  log(`head: ${model.newHead ? `new, ${model.numLabels} output(s), seeded` : 'the checkpoint\'s own'}`);
  const config = withTrainedHead(o.method);
  const adapter = attachAdapter(model, config, o.options.seed, 'method config');
  const taskInfo = (): ClassifierTaskInfo => ({
    type: 'seqcls', problem_type: labels.kind === 'regression' ? 'regression' : 'single_label_classification',
    id2label: labels.names, text_fields: textFields, label_field: labelField, max_length: maxLength, ...(pairHead ? { pair_head: true } : {}),
  });
  const training = await trainModel({
    model, adapter, task: sequenceClassificationTask(model, labels, train, validation), options: o.options,
    outDir: o.outDir, resume: o.resume, callbacks: o.callbacks, signal: o.signal,
    fingerprint: JSON.stringify({ modelDir: o.modelDir, config, options: o.options, textFields, labelField, maxLength, n: train.length }),
    inputs: o.inputs,
    adapterFiles: () => adapterFileChunks(adapter, { path: o.modelDir, architecture: modelArchitecture(o.modelDir), naming: model.adapterNaming() }, { task: taskInfo() }),
  });
  const task = taskInfo();
  const result: ClassifierRunResult = { adapter, labels, task, training };
  if (validation) result.validation = (await evaluateSequenceClassifier(model, validation, labels)).metrics;
  if (test) result.test = (await evaluateSequenceClassifier(model, test, labels)).metrics;
  if (o.outDir) {
    await saveAdapterAsync(join(o.outDir, 'adapter'), adapter, { path: o.modelDir, architecture: modelArchitecture(o.modelDir), naming: model.adapterNaming() }, { task });
    writeTrainingReport(o.outDir, adapter, training, o.options, `${adapter.method} on ${o.modelDir}`, {
      validation: result.validation ?? null, test: result.test ?? null,
      ...(estimate ? { memory_estimate_mb: Math.round(estimate.bytes / 1e6) } : {}), peak_rss_mb: Math.round(peakResidentBytes() / 1e6),
    });
  }
  return result;
}

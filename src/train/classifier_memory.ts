// The peak memory of a classifier's training step (BERT, RoBERTa, USE Lite, ViT), known before the
// model is loaded: the model built from its config on the meta backend's dry run, the adapter attached
// as the run attaches it, and one step's forward and backward run over a batch of the run's shape,
// computing nothing. The meta pool's peak is then what the step holds at once -- weights,
// activations, gradients -- measured on the model's own code rather than counted from a second
// description of each architecture; the optimizer's moments and the process around it are added.
// An evaluation's batch (gift eval) is its forward alone, under no-grad; a merge (gift merge) is the
// weights in float32 and the adapter.
import { metaDryRunBackend, metaMemory } from '../backend/meta/index.js';
import { withBackend } from '../backend/index.js';
import type { SequenceClassifier } from '../models/encoder.js';
import { buildClassifierShapes, type LoadOptions, type ModelKind } from '../models/registry.js';
import { patchRowsShape, type ViTForImageClassification } from '../models/vit/model.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../tensor/autograd.js';
import type { Module } from '../nn/module.js';
import { crossEntropy } from '../ops/cross_entropy.js';
import { attachAdapter } from '../peft/adapter_io.js';
import { withTrainedHead } from '../peft/modules_to_save.js';
import { collateSeqCls } from '../data/seqcls.js';
import { poolFor, tidy } from '../tensor/memory.js';
import type { AvailableMemory } from '../io/system_memory.js';
import { estimateOf, gb, memoryRefusal, runtimePart, settingName, type MemoryEstimate } from './memory_estimate.js';
import { sequenceClassificationLoss } from './tasks/sequence_classification.js';
import { GiftjsError } from '../errors.js';

/** A classifier run's step, as its memory depends on it. */
export interface ClassifierStepShape {
  kind: Extract<ModelKind, 'sequence-classifier' | 'image-classifier'>;
  /** Examples per step (options.batchSize). */
  batch: number;
  /** Tokens per text (a sequence classifier's maxLength); an image classifier's images are its config's size. */
  length: number;
  numLabels: number;
  regression?: boolean;
  /** Sentence pairs (a sentence encoder's pair head reads each text alone). */
  pairs?: boolean;
  /** The method's config, as the run attaches it (with the head trained beside it); null when scoring. */
  method: Record<string, unknown> | null;
  /**
   * An evaluation's batch (gift eval): the forward alone, without gradients or the optimizer's moments,
   * with a saved adapter of `adapterBytes` (its file's size: the tensors it holds) in place of `method`.
   */
  scoring?: { adapterBytes: number };
}

/** The memory of a classifier run at its step's peak (or of an evaluation at its forward's). */
export function estimateClassifierMemory(dir: string, s: ClassifierStepShape): MemoryEstimate {
  const pool = poolFor(metaMemory);
  const start = pool.liveBytes;
  pool.peakLiveBytes = start;
  let trained = 0;
  // An evaluation's forward records no graph (eval/classification.ts runs it under noGrad).
  const step = (loss: () => Tensor) => (s.scoring ? noGrad(loss) : loss());
  withBackend(metaDryRunBackend, () => tidy(() => {
    const model = buildClassifierShapes(dir, s.kind, { numLabels: s.numLabels, pairs: s.pairs }, metaDryRunBackend);
    if (!model) throw new GiftjsError(`${dir}: its model family has no shapes to estimate a classifier's memory from`);
    if (s.method) trained = attachAdapter(model, withTrainedHead(s.method), 0, 'method config').trainableCount();
    // A training step runs in training mode: the config's dropouts act (their masks, attention's
    // included, are drawn again in the backward, never held).
    if (!s.scoring) model.train();
    const labels = Array.from({ length: s.batch }, () => 0);
    if (s.kind === 'image-classifier') {
      // The patch rows as a meta tensor: no batch of pixels is allocated on the host to be measured.
      const vit = model as ViTForImageClassification & Module;
      const loss = step(() => crossEntropy(vit.forward(Tensor.empty(patchRowsShape(s.batch, vit.config))), labels, { reduction: 'sum' }));
      if (!s.scoring) loss.backward();
    } else {
      const classifier = model as SequenceClassifier & Module;
      // A pair's two texts share the length (the tokenizer cuts the pair to it).
      const half = Math.floor(s.length / 2);
      const example = { ids: Array.from({ length: s.length }, () => 0), ...(s.pairs ? { typeIds: Array.from({ length: s.length }, (_, i) => (i < half ? 0 : 1)) } : {}), label: 0 };
      const space = s.regression ? { kind: 'regression' as const, names: ['score'] } : { kind: 'classification' as const, names: Array.from({ length: s.numLabels }, (_, i) => String(i)) };
      const loss = step(() => sequenceClassificationLoss(classifier.logits(collateSeqCls(Array.from({ length: s.batch }, () => example))), labels, space));
      if (!s.scoring) loss.backward();
    }
    for (const p of model.parameters()) p.dispose();
  }));
  const peak = pool.peakLiveBytes - start;
  const what = `${s.batch} ${s.kind === 'image-classifier' ? 'images' : `x ${s.length} tokens`}`;
  return estimateOf([
    s.scoring
      ? [`the weights and activations of scoring ${what} at once (a dry run of the forward)`, peak]
      : [`the weights, activations and gradients of one step of ${what} (a dry run of the step)`, peak],
    s.scoring
      ? ['the adapter\'s tensors (its file\'s size)', s.scoring.adapterBytes]
      : [`AdamW's moments of the trained parameters (${trained.toLocaleString('en-US')} values)`, trained * 8],
    runtimePart(),
  ]);
}

/**
 * Refuses a classifier run whose step would not fit the budget, before the model is loaded, naming
 * the estimate, the budget and the smaller batches and lengths that would fit (each estimated);
 * `names` says how the caller names them (gift train's flags, or a program's options).
 */
export function assertClassifierFits(dir: string, s: ClassifierStepShape, budget: AvailableMemory, what: string, names: 'flags' | 'options'): MemoryEstimate {
  const e = estimateClassifierMemory(dir, s);
  if (e.bytes <= budget.bytes) return e;
  const fitting: string[] = [];
  for (let b = Math.floor(s.batch / 2); b >= 1 && fitting.length < 3; b = Math.floor(b / 2)) {
    const bytes = estimateClassifierMemory(dir, { ...s, batch: b }).bytes;
    if (bytes <= budget.bytes) fitting.push(`${settingName(names, 'batch', b)} (about ${gb(bytes)})`);
  }
  // (An evaluation reads at the length its classifier was trained with: only its batch can change.)
  if (s.kind === 'sequence-classifier' && !s.scoring) {
    for (let t = Math.floor(s.length / 2); t >= 16; t = Math.floor(t / 2)) {
      const bytes = estimateClassifierMemory(dir, { ...s, length: t }).bytes;
      if (bytes <= budget.bytes) {
        fitting.push(`${settingName(names, 'length', t)} (about ${gb(bytes)})`);
        break;
      }
    }
  }
  const advice = fitting.length > 0 ? `these would fit: ${fitting.join(', ')}` : `no smaller batch${s.scoring ? '' : ' or length'} fits; use a machine with more memory or a smaller model`;
  throw memoryRefusal(what, e, budget, advice, names);
}

/**
 * A classifier's merge (gift merge on a seqcls or imgcls adapter): the model in float32 with the
 * adapter attached (`adapterBytes`, its file's size), merged in place and written from the tensors
 * themselves; the weights counted from the model built as shapes.
 */
export function estimateClassifierMergeMemory(dir: string, kind: ClassifierStepShape['kind'], options: LoadOptions, adapterBytes: number): MemoryEstimate {
  let weights = 0;
  withBackend(metaDryRunBackend, () => tidy(() => {
    const model = buildClassifierShapes(dir, kind, options, metaDryRunBackend);
    if (!model) throw new GiftjsError(`${dir}: its model family has no shapes to estimate a classifier's memory from`);
    for (const p of model.parameters()) {
      weights += 4 * p.size;
      p.dispose();
    }
  }));
  return estimateOf([
    ['the weights in float32', weights],
    ['the adapter\'s tensors (its file\'s size)', adapterBytes],
    runtimePart(),
  ]);
}

// Fine-tuning a causal language model end to end, as `gift train` does it and a program can: examples
// in; the peak memory estimated and refused past the budget before anything is loaded, the model
// loaded (weights as stored, quantized or in bfloat16), the method attached and trained; the adapter,
// log, metrics and loss curve out. Reading files and flags is the command's (cli/train.ts).
import type { FineTuneRunSettings } from './run_settings.js';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { getBackend, setBf16Compute } from '../backend/index.js';
import type { Example } from '../data/examples.js';
import { packExamples } from '../data/packing.js';
import { GiftjsError } from '../errors.js';
import type { CausalLM } from '../models/causal_lm.js';
import { describeQuantized, loadCausalLM } from '../models/registry.js';
import { adapterFileChunks, attachAdapter, saveAdapterAsync } from '../peft/adapter_io.js';
import type { AttachedAdapter } from '../peft/method.js';
import type { QuantFormat } from '../formats/quantized.js';
import { availableMemory, peakResidentBytes } from '../io/system_memory.js';
import { assertFitsInMemory, describeEstimate, estimateCausalLMMemory, fewestStreamedLayers, frozenBytes, gb, memoryBudget, trainsNoBaseMatrix, type MemoryEstimate } from './memory_estimate.js';
import { writeTrainingReport } from './report.js';
import { trainModel, type TrainResult } from './trainer.js';
import { taskHeldOutLoss } from './task.js';
import { causalLMTask } from './tasks/causal_lm.js';

/** What the examples were made from: a checkpoint of other data is not resumed (it joins the fingerprint). */
export interface LanguageModelData {
  /** The data file(s) as given (several joined by commas). */
  path: string;
  /** The mixing weights of several files. */
  weights?: number[];
  /** Tokens per example the examples were cut to. */
  maxLength: number;
  /** The paper's prompt template the records were formatted with, or null. */
  template: string | null;
  /** Given when every token carried the loss (--loss-on all); omitted, the response's tokens did. */
  lossOn?: 'all';
  /** The field text records held their text in, where one was named (--dataset-text-field). */
  textField?: string;
}

export interface LanguageModelRunOptions extends FineTuneRunSettings {
  /** A model folder (or a GGUF file, a hub id's downloaded folder). */
  modelDir: string;
  /** How the adapter names its base (adapter_config.json's base_model_name_or_path); default modelDir. */
  baseModelName?: string;
  train: Example[];
  /** Held-out examples: their loss is logged at the start, every evalEvery updates and at the end. */
  heldOut?: Example[];
  /** Test examples (mlx-lm's --test): scored once after training, their loss and perplexity in metrics.json. */
  test?: Example[];
  /** Where the method's config came from, for its error messages (default 'method config'). */
  methodSource?: string;
  /** The padding token of the batches (the tokenizer's end of sequence). */
  padId: number;
  /** Where adapter/, log.jsonl, metrics.json, loss_curve.svg and checkpoints go. */
  outDir: string;
  /** What the examples were made from; absent, a digest of their tokens stands for it. */
  data?: LanguageModelData;
  /** Rows of up to this many tokens packed from several examples (TRL's packing); absent: one example a row. */
  pack?: number;
  /** Recompute each layer in backward: far less memory, one more forward. */
  gradientCheckpointing?: boolean;
  /**
   * With gradientCheckpointing, on a BF16/F16 checkpoint or a GGUF's Q8_0/Q4_0 blocks: as many decoder
   * layers as the memory budget needs have their mapped weights leave memory after each use.
   */
  streamWeights?: boolean;
  /** Frozen matrices as bfloat16 and every product on bf16 dot products with float32 accumulation (autocast's arithmetic). */
  bf16?: boolean;
  /** A quantized frozen base (QLoRA's, mlx-lm's -q); the method must train no base matrix. */
  quantize?: QuantFormat;
  /** NEFTune: noise of this alpha on the token embeddings in training (TRL's neftune_noise_alpha; Embedding.noiseAlpha). Absent or 0: none. */
  neftuneNoiseAlpha?: number;
}

export interface LanguageModelRunResult {
  model: CausalLM;
  adapter: AttachedAdapter;
  training: TrainResult;
  /** metrics.json's contents. */
  metrics: Record<string, unknown>;
  estimate: MemoryEstimate;
}

export async function fineTuneLanguageModel(o: LanguageModelRunOptions): Promise<LanguageModelRunResult> {
  const log = o.log ?? (() => {});
  const gradientCheckpointing = o.gradientCheckpointing === true;
  const bf16 = o.bf16 === true;
  if (o.streamWeights && !gradientCheckpointing) throw new GiftjsError('streamWeights releases each layer\'s weights between the uses gradient checkpointing makes of them: set gradientCheckpointing too (--gradient-checkpointing)');
  if (o.quantize && !trainsNoBaseMatrix(o.method)) {
    throw new GiftjsError(`quantize freezes the base model's matrices, and method ${String(o.method.method)}${o.method.modules_to_save ? ' with modules_to_save' : ''} trains them; use gift, lora or bitfit, or leave out quantize (--quantize)`);
  }
  if (bf16 && !getBackend().setBf16Compute) throw new GiftjsError(`bf16 (--bf16) runs on the CPU backends (native, ref); the ${getBackend().name} backend trains in float32`);
  if (o.train.length === 0) throw new GiftjsError('language modelling: no training examples');
  const neftune = o.neftuneNoiseAlpha ?? 0;
  if (!(Number.isFinite(neftune) && neftune >= 0)) throw new GiftjsError(`neftuneNoiseAlpha (--neftune-noise-alpha) must be a number >= 0 (0: off; the NEFTune paper used 5 to 15), got ${neftune}`);
  if (o.pack) log(`--pack: ${o.train.length} examples in ${packExamples(o.train, o.pack).length} rows of up to ${o.pack} tokens`);

  // Memory known before it is spent: refused here, naming what would fit, rather than killed while loading.
  const longest = Math.max(...[o.train, o.heldOut ?? [], o.test ?? []].flatMap((set) => set.map((e) => e.ids.length)));
  const budget = o.memory ?? memoryBudget(undefined);
  const runShape = { command: 'train', batch: o.options.batchSize, length: longest, gradientCheckpointing, methodConfig: o.method, bf16, quantize: o.quantize } as const;
  // --stream-weights pages as few decoder layers through memory as the budget needs, and a fit so found keeps
  // the estimate that found it; anything else is checked here, and refused naming what would fit.
  const streaming = o.streamWeights ? fewestStreamedLayers(o.modelDir, runShape, budget) : null;
  const estimate = streaming?.fits ? streaming.estimate : assertFitsInMemory(o.modelDir, { ...runShape, streamedLayers: streaming?.streamed ?? 0 }, budget, o.names === 'flags' ? 'gift train' : 'fineTuneLanguageModel', o.names ?? 'options');
  log(`memory: about ${describeEstimate(estimate)}`);
  if (streaming) {
    log(streaming.streamed === 0
      ? `--stream-weights: every layer's weights fit resident in the ${gb(budget.bytes)} this run may use (${budget.source}); none is streamed (--memory-limit lowers the budget)`
      : `--stream-weights: ${streaming.streamed} of ${streaming.layers} decoder layers streamed, so that the run fits the ${gb(budget.bytes)} it may use (${budget.source})`);
    // The page cache keeps the streamed layers between uses only if the whole file fits in what the system has.
    const whole = frozenBytes(estimateCausalLMMemory(o.modelDir, runShape)); // every layer's weights at once
    const system = availableMemory();
    if (streaming.streamed > 0 && whole > system.bytes) log(`--stream-weights: the weights (${gb(whole)}) are more than the memory the system has (${gb(system.bytes)}, ${system.source}): the page cache cannot keep them, so each step reads the streamed layers from disk, twice`);
  }
  // A BF16 or F16 checkpoint's frozen matrices stay as stored (what is trained is widened when attached);
  // when the method trains no base matrix, a GGUF's blocks stay quantized (Q8_0, Q4_0) or bfloat16, and
  // under bf16 a float32 checkpoint's matrices are rounded as they are read.
  const baseFrozen = trainsNoBaseMatrix(o.method);
  const loadStart = performance.now();
  const model = loadCausalLM(o.modelDir, { keepStoredDtype: true, keepStoredBlocks: baseFrozen, matricesAsBf16: bf16 && baseFrozen, quantize: o.quantize });
  log(`loaded ${o.modelDir} in ${((performance.now() - loadStart) / 1000).toFixed(1)} s${o.quantize ? `; ${describeQuantized(model)}` : ''}`);
  model.gradientCheckpointing = gradientCheckpointing;
  model.streamedLayers = streaming?.streamed ?? 0;
  model.inputEmbeddings().noiseAlpha = neftune;
  const adapter = attachAdapter(model, o.method, o.options.seed, o.methodSource ?? 'method config');
  log(`${adapter.method}: ${adapter.trainableCount()} trainable parameters\n${adapter.describe().map((l) => `  ${l}`).join('\n')}`);
  if (bf16) {
    // After the adapter is attached, so that only what stays frozen is rounded.
    model.storeFrozenWeightsAsBf16(); // those not rounded as they were read
    const stored = model.parameters().filter((p) => p.dtype === 'bfloat16').length;
    const halves = model.parameters().filter((p) => p.dtype === 'float16').length;
    const dots = setBf16Compute(true); // whether the native kernels have AVX-512 BF16
    const products = getBackend().name === 'ref' ? 'every product rounded to bf16 as AVX-512 BF16 rounds it (ref emulates it)' : dots ? 'every product on AVX-512 BF16 dot products' : 'this CPU has no AVX-512 BF16, so products widen the bfloat16 weights to float32';
    log(`--bf16: ${stored} frozen weights stored as bfloat16${halves ? ` (${halves} float16 ones kept as stored)` : ''}; ${products}; float32 accumulation, trainable parameters and optimizer state`);
  }

  const base = { path: o.baseModelName ?? o.modelDir, architecture: model.config.architecture, naming: model.adapterNaming() };
  let training: TrainResult;
  try {
    training = await trainModel({
      model, adapter, train: o.train, heldOut: o.heldOut, options: o.options, padId: o.padId, pack: o.pack, outDir: o.outDir, resume: o.resume,
      adapterFiles: () => adapterFileChunks(adapter, base),
      fingerprint: fingerprintOf(o),
      inputs: o.inputs,
      callbacks: o.callbacks,
      signal: o.signal,
    });
  } finally {
    if (bf16) setBf16Compute(false);
  }
  await saveAdapterAsync(join(o.outDir, 'adapter'), adapter, base);
  const tested = o.test && o.test.length > 0 ? await testLoss(model, o.test, o.options.batchSize, o.padId) : null;
  if (tested) log(`test: loss ${tested.test_loss.toFixed(4)}, perplexity ${tested.test_perplexity.toFixed(3)} over ${tested.test_tokens} tokens`);
  const metrics = writeTrainingReport(o.outDir, adapter, training, o.options, `${adapter.method} on ${o.modelDir}`, {
    memory_estimate_mb: Math.round(estimate.bytes / 1e6), peak_rss_mb: Math.round(peakResidentBytes() / 1e6), ...tested,
  });
  return { model, adapter, training, metrics, estimate };
}

/**
 * The trained model's mean next-token loss over every scored token of the test examples (as the held-out
 * loss is taken), and its perplexity: what mlx-lm's --test prints after training. A loss that is not
 * finite is refused by name: the adapter is written, no metrics are.
 */
async function testLoss(model: CausalLM, test: Example[], batchSize: number, padId: number): Promise<{ test_loss: number; test_perplexity: number; test_tokens: number }> {
  model.eval();
  const { loss, units } = await taskHeldOutLoss(causalLMTask(model, [], test, padId), batchSize);
  if (!Number.isFinite(loss)) throw new GiftjsError(`the test loss is ${loss} over ${units} tokens: the trained model's outputs on the test data are not finite (the adapter is written; metrics.json is not)`);
  return { test_loss: loss, test_perplexity: Math.exp(loss), test_tokens: units };
}

/**
 * The settings a checkpoint is resumed against, in the order runs have always written them (a
 * checkpoint of an earlier version resumes). lossOn, textField, neftuneNoiseAlpha, bf16, quantize and pack change
 * the labels, the embeddings, the arithmetic or the batches, so they join it, and only when set: checkpoints written before they existed keep theirs.
 */
function fingerprintOf(o: LanguageModelRunOptions): string {
  const data = o.data ?? { path: `examples sha256:${tokenDigest(o.train)}`, maxLength: Math.max(...o.train.map((e) => e.ids.length)), template: null };
  return JSON.stringify({
    modelDir: o.modelDir, dataPath: data.path, ...(data.weights ? { weights: data.weights } : {}), methodConfig: o.method, options: o.options,
    maxLength: data.maxLength, task: data.template, ...(data.lossOn ? { lossOn: data.lossOn } : {}), ...(data.textField !== undefined ? { textField: data.textField } : {}), ...(o.neftuneNoiseAlpha ? { neftuneNoiseAlpha: o.neftuneNoiseAlpha } : {}), ...(o.bf16 ? { bf16: true } : {}), ...(o.quantize ? { quantize: o.quantize } : {}), ...(o.pack ? { pack: o.pack } : {}),
  });
}

/** The sha256 of the examples' token ids and loss masks, in order. */
function tokenDigest(examples: Example[]): string {
  const hash = createHash('sha256');
  const bytes = (a: Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (const e of examples) hash.update(Int32Array.of(e.ids.length)).update(bytes(e.ids)).update(bytes(e.labels));
  return hash.digest('hex');
}

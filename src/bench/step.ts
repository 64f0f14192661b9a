// One GIFT (or LoRA) training step on a Transformer-shaped model with random weights: forward,
// backward and the AdamW update timed separately, as the speed issue measures it.
import { markForwardStart, startProfiling, stopProfiling, type OpProfile, type OpTime } from '../tensor/profiler.js';
import { timeBackendCalls, type GemmCallGroup } from './backend_calls.js';
import { performance } from 'node:perf_hooks';
import { setBf16Compute } from '../backend/index.js';
import type { CausalLM } from '../models/causal_lm.js';
import { shiftLabels } from '../models/causal_lm.js';
import { crossEntropy } from '../ops/cross_entropy.js';
import { attachAdapter } from '../peft/adapter_io.js';
import type { AttachedAdapter } from '../peft/method.js';
import type { Module } from '../nn/module.js';
import { tidy } from '../tensor/memory.js';
import { peakResidentBytes } from '../io/system_memory.js';
import { Random } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { AdamW } from '../train/optimizer.js';
import { imagesToPatches, VIT_B16, ViTForImageClassification } from '../models/vit/model.js';
import { BertForSequenceClassification } from '../models/bert/model.js';
import { parseBertConfig } from '../models/bert/config.js';
import { UseLiteForSequenceClassification } from '../models/use_lite/model.js';
import type { SequenceClassifier } from '../models/encoder.js';
import { layerInputSize, USE_LITE_DEFAULTS } from '../models/use_lite/config.js';
import { ENCODER_STEP_SHAPES, STEP_SHAPES, stepShape } from './step_shapes.js';
import { assertWeightsFit, randomBenchModel, type BenchDType } from './random_model.js';
import { GiftjsError } from '../errors.js';

export { ENCODER_STEP_SHAPES, STEP_SHAPES, stepShape };


/** What a step benchmark trains: a GIFT or LoRA adapter on q_proj,v_proj, or every weight (full fine-tuning). */
export type StepMethod = 'gift' | 'lora' | 'full';

/**
 * FLOPs per token of one training step on a Llama shape, counted as the speed issue counts them:
 * the base forward and its input-gradient backward (every linear layer, the output projection too),
 * attention as if unmasked (QK^T and PV forward; dV, dP, dQ, dK backward), and the adapter on q_proj
 * and v_proj (forward; input and weight gradients backward); full fine-tuning instead adds every
 * matrix's weight gradient (another product per matrix; an untied embedding's is a scatter).
 * SmolLM2-135M at T = 256 with GIFT r64: 617.5 MFLOP.
 */
export function stepFlopsPerToken(model: CausalLM, seq: number, rank: number, method: StepMethod): number {
  const c = model.config;
  // Every matrix is a product per token, the output projection too (a tied embedding is that
  // projection; an untied one is only looked up).
  const matrices = model.namedParameters().filter(([, p]) => p.rank === 2);
  const baseMacs = matrices.reduce((n, [name, p]) => n + (!c.tieWordEmbeddings && name.endsWith('embed_tokens.weight') ? 0 : p.size), 0);
  const attentionMacs = c.numLayers * 2 * c.numHeads * seq * c.headDim;
  if (method === 'full') return 2 * (3 * baseMacs + 3 * attentionMacs);
  // GIFT maps the input to r and back to the input size; LoRA maps it to r and on to the output size.
  const adapted = [c.numHeads * c.headDim, c.numKvHeads * c.headDim]; // q_proj, v_proj outputs
  const adapterMacs = c.numLayers * adapted.reduce((n, out) => n + rank * (c.hiddenSize + (method === 'gift' ? c.hiddenSize : out)), 0);
  return 2 * (2 * baseMacs + 3 * attentionMacs + 3 * adapterMacs);
}

export interface StepTiming {
  tokensPerSecond: number;
  msForward: number;
  msBackward: number;
  msOptimizer: number;
  /** The process's peak resident memory in MB (10^6 bytes, as the peers report theirs). */
  peakRssMB: number;
  loss: number;
  /** Per op kind, ms per step (with --profile). */
  profile?: OpProfile;
  /** Every GEMM of a step by shape: calls, ms and FLOPs per step (with --profile). */
  gemmCalls?: GemmCallGroup[];
}

export interface LmStepTiming extends StepTiming {
  /** FLOPs per token as stepFlopsPerToken counts them, and the rate the step ran at. */
  flopsPerToken: number;
  gflops: number;
}

/**
 * One training step as a function: lossOf builds the loss (inside a scope), then backward, then
 * AdamW on params; returns the phases' times in ms and the loss.
 */
function stepRunner(lossOf: () => Tensor, params: [string, Tensor][]): () => { fwd: number; bwd: number; opt: number; loss: number } {
  const opt = new AdamW([{ params, lrScale: 1, weightDecay: 0 }]);
  return () => {
    const t0 = performance.now();
    let t1 = 0;
    let loss = 0;
    tidy(() => {
      markForwardStart();
      const l = lossOf();
      loss = l.item();
      t1 = performance.now();
      l.backward();
    });
    const t2 = performance.now();
    opt.update(1e-4);
    for (const [, p] of params) p.zeroGrad();
    const t3 = performance.now();
    return { fwd: t1 - t0, bwd: t2 - t1, opt: t3 - t2, loss };
  };
}

/**
 * One warm-up step, then `steps` timed ones; phases averaged. The peak RSS is the process's own
 * high-water mark (the model's build included, as the PyTorch peers' is), not a sample between steps,
 * which would miss the backward's peak inside a step.
 */
function timeSteps(lossOf: () => Tensor, params: [string, Tensor][], steps: number, tokensPerStep: number, profile = false): StepTiming {
  const step = stepRunner(lossOf, params);
  step(); // warm-up
  if (profile) startProfiling();
  const runSteps = () => Array.from({ length: steps }, step);
  const { result: runs, groups } = profile ? timeBackendCalls(runSteps) : { result: runSteps(), groups: null };
  const peak = peakResidentBytes();
  const ops = profile ? stopProfiling() : undefined;
  const perStep = (rows: OpTime[]) => rows.map((r) => ({ ...r, ms: r.ms / steps, calls: r.calls / steps }));
  const avg = (k: 'fwd' | 'bwd' | 'opt') => runs.reduce((s, x) => s + x[k], 0) / runs.length;
  const total = avg('fwd') + avg('bwd') + avg('opt');
  return {
    tokensPerSecond: tokensPerStep / (total / 1000), msForward: avg('fwd'), msBackward: avg('bwd'), msOptimizer: avg('opt'), peakRssMB: peak / 1e6, loss: runs[runs.length - 1]!.loss,
    ...(ops ? { profile: { forward: perStep(ops.forward), backward: perStep(ops.backward) } } : {}),
    ...(groups ? { gemmCalls: groups.map((g) => ({ ...g, calls: g.calls / steps, ms: g.ms / steps, flops: g.flops / steps, bBytes: g.bBytes / steps })) } : {}),
  };
}

/**
 * The adapter a step benchmark trains, attached to `targets` with non-zero values (psi / B too), as
 * in the PyTorch peers, so that every gradient is real work (full fine-tuning: the model's own
 * weights, as built); and the generator, drawn past them,
 * for the inputs.
 */
function attachNonZero(model: Module, method: StepMethod, rank: number, targets: string[]): { adapter: AttachedAdapter; r: Random } {
  // Full fine-tuning trains the model's own (random, non-zero) weights as they are.
  const adapter = attachAdapter(model, method === 'full' ? { method } : { method, rank, target_modules: targets }, 1);
  const r = new Random(2);
  if (method !== 'full') for (const [, t] of adapter.namedTrainable()) t.writeHost((d) => d.forEach((_, i) => (d[i] = 0.02 * r.normal())));
  return { adapter, r };
}

/**
 * GIFT on `targets` (attachNonZero) and the classifier head of an encoder, trained together: their parameters.
 * The model is in training mode, as gift train runs it and the PyTorch peers do (model.train()): BERT's
 * dropouts (0.1 on the hidden states, the attention probabilities and the pooled output) act, as they
 * had not in this benchmark while they did in the peer's step.
 */
function giftWithHead(model: Module & { classifier: Module }, rank: number, targets: string[]): { params: [string, Tensor][]; r: Random } {
  model.train();
  const { adapter, r } = attachNonZero(model, 'gift', rank, targets);
  for (const p of model.classifier.parameters()) p.requiresGrad = true;
  return { params: [...adapter.namedTrainable(), ...model.classifier.namedParameters('classifier.')], r };
}

/** The model, what it trains and the loss of the LM step benchmark (random weights, a non-zero adapter or every weight). */
function lmStepSetup(shape: string, batch: number, seq: number, rank: number, method: StepMethod, layers: number | undefined, dtype: BenchDType) {
  const model = randomBenchModel(shape, dtype, layers);
  const config = model.config;
  const { adapter, r } = attachNonZero(model, method, rank, ['q_proj', 'v_proj']);
  const ids = Int32Array.from({ length: batch * seq }, () => r.int(config.vocabSize));
  const labels = shiftLabels(ids, batch, seq);
  return { config, model, params: adapter.namedTrainable(), lossOf: () => model.loss(ids, batch, seq, labels) };
}

export function benchTrainingStep(shape: string, batch: number, seq: number, rank: number, method: StepMethod, steps: number, layers?: number, dtype: BenchDType = 'f32', checkpointing = false, bf16Compute = false, profile = false): LmStepTiming {
  const { config, model, params, lossOf } = lmStepSetup(shape, batch, seq, rank, method, layers, dtype);
  model.gradientCheckpointing = checkpointing;
  const t = withBf16Compute(bf16Compute, () => timeSteps(lossOf, params, steps, batch * seq, profile));
  const flopsPerToken = stepFlopsPerToken(model, seq, rank, method);
  return { ...t, flopsPerToken, gflops: (t.tokensPerSecond * flopsPerToken) / 1e9 };
}

/** fn() with the backend's bf16 dot products on or off as asked, and off again after it. */
function withBf16Compute<T>(on: boolean, fn: () => T): T {
  setBf16Compute(on);
  try {
    return fn();
  } finally {
    setBf16Compute(false);
  }
}

/**
 * The bf16 step (bfloat16 weights, bf16 dot products) against the float32 step in one process, the
 * two alternating step by step after a warm-up each, so that a shared machine's slow spells fall
 * on both: tokens/s of each, from the mean step time.
 */
export function benchBf16AgainstF32(shape: string, batch: number, seq: number, rank: number, method: StepMethod, steps: number, layers?: number): { f32: number; bf16: number; firstLoss: { f32: number; bf16: number } } {
  const f32 = lmStepSetup(shape, batch, seq, rank, method, layers, 'f32');
  const bf16 = lmStepSetup(shape, batch, seq, rank, method, layers, 'bf16');
  const runners = { f32: stepRunner(f32.lossOf, f32.params), bf16: stepRunner(bf16.lossOf, bf16.params) };
  const ms = { f32: 0, bf16: 0 };
  const firstLoss = { f32: NaN, bf16: NaN };
  const run = (which: 'f32' | 'bf16') => withBf16Compute(which === 'bf16', () => {
    const r = runners[which]();
    if (Number.isNaN(firstLoss[which])) firstLoss[which] = r.loss;
    return r.fwd + r.bwd + r.opt;
  });
  run('f32');
  run('bf16');
  for (let i = 0; i < steps; i++) {
    ms.f32 += run('f32');
    ms.bf16 += run('bf16');
  }
  const tokens = batch * seq;
  return { f32: (tokens * steps) / (ms.f32 / 1000), bf16: (tokens * steps) / (ms.bf16 / 1000), firstLoss };
}

/** GIFT rank 16 on the attention output projection plus the classifier head (the paper's ViT setting), images/s. */
export function benchVitStep(batch: number, rank: number, steps: number, layers?: number, profile = false, bf16Compute = false): StepTiming & { imagesPerSecond: number } {
  const config = { ...VIT_B16, ...(layers ? { numLayers: layers } : {}) };
  const H = config.hiddenSize;
  const patchValues = config.numChannels * config.patchSize ** 2 * H;
  assertWeightsFit(`--shape vit-b16 with ${config.numLayers} layers`, 4 * (patchValues + encoderLayerValues(H, config.intermediateSize) * config.numLayers + H * config.numLabels), 'fewer --layers');
  const model = new ViTForImageClassification(config, new Random(0));
  const { params, r } = giftWithHead(model, rank, ['attention.output.dense']);
  const pixels = Float32Array.from({ length: batch * 3 * 224 * 224 }, () => r.normal());
  const labels = Array.from({ length: batch }, () => r.int(config.numLabels));
  const tokensPerImage = (224 / 16) ** 2 + 1;
  const t = withBf16Compute(bf16Compute, () => timeSteps(() => crossEntropy(model.forward(imagesToPatches(pixels, batch, config)), labels), params, steps, batch * tokensPerImage, profile));
  return { ...t, imagesPerSecond: t.tokensPerSecond / tokensPerImage };
}

/** Weight values of one BERT/ViT encoder layer: query, key, value and output projections, the MLP's two matrices. */
function encoderLayerValues(hidden: number, intermediate: number): number {
  return 4 * hidden * hidden + 2 * hidden * intermediate;
}

/** BERT-base's config.json fields (bert-base-uncased), the encoder the GLUE step benchmark trains. */
export const BERT_BASE = {
  architectures: ['BertForSequenceClassification'], model_type: 'bert', vocab_size: 30522, hidden_size: 768, num_hidden_layers: 12,
  num_attention_heads: 12, intermediate_size: 3072, hidden_act: 'gelu', max_position_embeddings: 512, type_vocab_size: 2, layer_norm_eps: 1e-12,
};

/**
 * GIFT on query and value plus the classifier head (the paper's GLUE setting; RoBERTa's rank is 32),
 * on BERT-base with random weights, two labels, every sequence full length: sequences/s and tokens/s.
 */
export function benchBertStep(batch: number, seq: number, rank: number, steps: number, layers?: number, profile = false, bf16Compute = false): StepTiming & { sequencesPerSecond: number } {
  const config = parseBertConfig({ ...BERT_BASE, ...(layers ? { num_hidden_layers: layers } : {}) }, 'bench bert-base');
  const H = config.hiddenSize;
  const embeddingValues = (config.vocabSize + config.maxPositions + config.typeVocabSize) * H;
  assertWeightsFit(`--shape bert-base with ${config.numLayers} layers`, 4 * (embeddingValues + encoderLayerValues(H, config.intermediateSize) * config.numLayers + H * H), 'fewer --layers');
  return sequenceClassifierStep(new BertForSequenceClassification(config, 2, new Random(0)), config.vocabSize, batch, seq, rank, steps, profile, bf16Compute);
}

/** GIFT on query,value and the head of a two-label sequence classifier, timed on random full-length sequences. */
function sequenceClassifierStep(model: SequenceClassifier & Module & { classifier: Module }, vocabSize: number, batch: number, seq: number, rank: number, steps: number,
  profile: boolean, bf16Compute: boolean): StepTiming & { sequencesPerSecond: number } {
  const { params, r } = giftWithHead(model, rank, ['query', 'value']);
  const input = { ids: Int32Array.from({ length: batch * seq }, () => r.int(vocabSize)), attentionMask: new Float32Array(batch * seq).fill(1), batch, seq };
  const labels = Array.from({ length: batch }, () => r.int(2));
  const t = withBf16Compute(bf16Compute, () => timeSteps(() => crossEntropy(model.logits(input), labels), params, steps, batch * seq, profile));
  return { ...t, sequencesPerSecond: t.tokensPerSecond / seq };
}

/**
 * The step `npm run demo` trains: GIFT rank 16 on query and value (one pair per target and input width:
 * the first layer reads 256 values, the second 512) plus a two-label head, on Universal Sentence Encoder
 * Lite's architecture with random weights, every sequence full length (at most 128 tokens).
 */
export function benchUseLiteStep(batch: number, seq: number, rank: number, steps: number, layers?: number, profile = false, bf16Compute = false): StepTiming & { sequencesPerSecond: number } {
  const config = { ...USE_LITE_DEFAULTS, ...(layers ? { numLayers: layers } : {}) };
  if (seq > config.maxPositions) throw new GiftjsError(`--seq ${seq}: --shape use-lite reads at most ${config.maxPositions} tokens`);
  const H = config.hiddenSize;
  let values = config.vocabSize * config.embeddingSize + H * H;
  for (let i = 0; i < config.numLayers; i++) {
    const w = layerInputSize(config, i);
    values += 3 * w * w + w * H + (w !== H ? w * H : 0) + 2 * H * config.intermediateSize;
  }
  assertWeightsFit(`--shape use-lite with ${config.numLayers} layers`, 4 * values, 'fewer --layers');
  return sequenceClassifierStep(new UseLiteForSequenceClassification(config, 2, new Random(0)), config.vocabSize, batch, seq, rank, steps, profile, bf16Compute);
}

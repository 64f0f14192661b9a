// gift inspect: a model folder's architecture, sizes and parameter counts, with what GIFT and
// LoRA would train; works from config.json alone (no weights needed).
import { requireModelFolder } from './model_loading.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile, withCheckpoint } from '../io/hf_folder.js';
import { GGUF_SOURCE_FILE } from '../io/gguf_weights.js';
import { buildClassifierShapes, buildModelShapes, modelFamily, readModelConfig, type LoadOptions } from '../models/registry.js';
import type { SequenceClassifier } from '../models/encoder.js';
import { estimateClassifierMemory } from '../train/classifier_memory.js';
import { DEFAULT_TRAIN_OPTIONS } from '../train/trainer.js';
import { attachAdapter } from '../peft/adapter_io.js';
import type { Module } from '../nn/module.js';
import { loadCausalLM } from '../models/registry.js';
import { loadAdapter, readAdapterConfig } from '../peft/adapter_io.js';
import { withBackend } from '../backend/index.js';
import { metaBackend } from '../backend/meta/index.js';
import { intOption, layersOption, listOption, parse } from './args.js';
import { availableMemory } from '../io/system_memory.js';
import { GiftjsError } from '../errors.js';
import { describeEstimate, estimateCausalLMMemory, type MemoryEstimateOptions } from '../train/memory_estimate.js';
import { headOptionsOfTask, type AdapterTask } from '../train/classifier_run.js';

export const INSPECT_HELP = `gift inspect <model dir> [--adapter <dir>] [--rank R] [--targets a,b] [--layers ...]
             [--batch-size B] [--max-length T] [--json]

Prints the architecture, sizes and parameter counts of a Hugging Face model folder (config.json is
enough), and the trainable parameters of GIFT and LoRA on the given targets (default: the paper's
Llama setting, q_proj,v_proj at rank 64). With --adapter, also what that adapter trains. For a
language model with its weights, also the memory gift train (GIFT on the targets, with and without
--gradient-checkpointing and --bf16), eval and generate would need at their peak for --batch-size B
(default 1) x --max-length T tokens (default 512), as those commands estimate it before loading. For
an encoder (BERT, RoBERTa, USE Lite, ViT), the memory of gift train's step (GIFT, a 2-label head) for
--batch-size B (default 8) x --max-length T tokens (default 128, or the model's positions), or B images.
`;

function human(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export async function inspectCommand(argv: string[]): Promise<number> {
  const s = { type: 'string' } as const;
  const { values, positionals } = parse(argv, { adapter: s, rank: s, targets: s, layers: s, 'batch-size': s, 'max-length': s, json: { type: 'boolean' } }, true);
  if (values.help || positionals.length !== 1) {
    console.log(INSPECT_HELP);
    return values.help ? 0 : 2;
  }
  const dir = await requireModelFolder({ model: positionals[0] }, INSPECT_HELP);
  const family = existsSync(join(dir, 'config.json')) ? modelFamily(dir) : null;
  if (family && family.kind !== 'causal-lm') {
    if (family.kind === 'image-classifier' && values['max-length'] !== undefined) {
      throw new GiftjsError(`--max-length sizes a text model's memory estimate; ${dir} is a ${family.name} image classifier, whose inputs are its images (leave it out)`);
    }
    // A classifier's encoder, with a 1-output head, counted without it: built as shapes where its family
    // can (no weight read: it had been loaded three times over, all held at once), else loaded.
    const build = () => buildClassifierShapes(dir, family.kind, { numLabels: 1 }) ?? family.load(dir, { numLabels: 1 });
    return inspectEncoder(dir, values, build, (o) => family.load(dir, o), [...family.giftTargets], family.giftRank, family.kind);
  }
  const c = readModelConfig(dir);
  const rank = intOption(values.rank, 'rank', 64);
  const targets = listOption(values.targets) ?? readModelConfig(dir).defaultTargets;
  const layers = layersOption(values.layers);
  // Counted on the model's own module tree, built without storage: no second description of any architecture.
  const shapes = () => buildModelShapes(dir, 'causal-lm')!;
  const total = shapes().parameters().reduce((n, p) => n + p.size, 0);
  // Each method attached as a run would attach it; one that cannot be (a rank past a layer's width) says why.
  const trainable = (method: string): number | string => {
    try {
      return withBackend(metaBackend, () => attachAdapter(shapes(), { method, rank, target_modules: targets, layers }, 0, 'command line').trainableCount());
    } catch (err) {
      if (err instanceof GiftjsError) return err.message;
      throw err;
    }
  };
  const gift = trainable('gift');
  const lora = trainable('lora');
  const lines = [
    `model: ${dir}`,
    `architecture: ${c.architecture} (${c.modelType || 'llama'}), ${c.numLayers} layers, hidden ${c.hiddenSize}, heads ${c.numHeads} (key/value ${c.numKvHeads}, head_dim ${c.headDim}), MLP ${c.intermediateSize}, vocabulary ${c.vocabSize}`,
    ...c.details(),
    `parameters: ${total} (${human(total)})`,
  ];
  const weights: Record<string, number> = {};
  // Safetensors, or a GGUF the folder was made from (its weights are read from the file itself).
  const hasWeights = ['model.safetensors', 'model.safetensors.index.json', GGUF_SOURCE_FILE].some((f) => existsSync(join(dir, f)));
  if (hasWeights) {
    withCheckpoint(dir, (r) => {
      for (const n of r.names()) weights[r.info(n).dtype] = (weights[r.info(n).dtype] ?? 0) + 1;
    });
    lines.push(`weights: ${Object.entries(weights).map(([d, n]) => `${n} tensors ${d}`).join(', ')}`);
  } else {
    lines.push(`weights: none in this folder (counts come from config.json${values['batch-size'] !== undefined || values['max-length'] !== undefined ? "; memory is estimated from a folder's weights, so not for --batch-size / --max-length here" : ''})`);
  }
  lines.push(
    `trainable on ${targets.join(',')}${layers ? ` in layers ${layers.join(',')}` : ''}, rank ${rank}:`,
    typeof gift === 'number'
      ? `  GIFT ${gift} (${human(gift)}, ${((100 * gift) / total).toFixed(4)}% of the model): 2 x in x rank per target, shared by all ${c.numLayers} layers`
      : `  GIFT: not at this rank (${gift})`,
    typeof lora === 'number'
      ? `  LoRA ${lora} (${human(lora)}, ${((100 * lora) / total).toFixed(4)}%): rank x (in + out) per adapted layer${typeof gift === 'number' ? `; LoRA / GIFT = ${(lora / gift).toFixed(1)}x` : ''}`
      : `  LoRA: not at this rank (${lora})`,
  );
  let memory: Record<string, number> | null = null;
  const batch = intOption(values['batch-size'], 'batch-size', 1);
  const length = Math.min(intOption(values['max-length'], 'max-length', 512, 2), c.maxPositionEmbeddings);
  if (hasWeights) {
    const methodConfig = { method: 'gift', rank, target_modules: targets, layers };
    const at = (o: Omit<MemoryEstimateOptions, 'batch' | 'length'>) => estimateCausalLMMemory(dir, { batch, length, ...o }).bytes;
    try {
      memory = {
        train: at({ command: 'train', methodConfig }),
        train_checkpointing: at({ command: 'train', methodConfig, gradientCheckpointing: true }),
        train_checkpointing_bf16: at({ command: 'train', methodConfig, gradientCheckpointing: true, bf16: true }),
        train_checkpointing_int8: at({ command: 'train', methodConfig, gradientCheckpointing: true, quantize: 'int8' }),
        train_checkpointing_int4: at({ command: 'train', methodConfig, gradientCheckpointing: true, quantize: 'int4' }),
        eval: at({ command: 'eval' }),
        generate: at({ command: 'generate' }),
        generate_int8: at({ command: 'generate', quantize: 'int8' }),
        generate_int4: at({ command: 'generate', quantize: 'int4' }),
      };
    } catch (err) {
      if (!(err instanceof GiftjsError)) throw err;
      lines.push(`memory: not estimated (${err.message})`); // a rank past the model's width, say
    }
  }
  if (memory) {
    const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;
    lines.push(
      `memory at the peak, ${batch} x ${length} tokens (estimated as the commands do before loading; this machine's budget: ${gb(availableMemory().bytes)}):`,
      `  train (GIFT on ${targets.join(',')}): ${gb(memory.train!)}; with --gradient-checkpointing ${gb(memory.train_checkpointing!)}; and --bf16 ${gb(memory.train_checkpointing_bf16!)}`,
      `  with --gradient-checkpointing --quantize int8 ${gb(memory.train_checkpointing_int8!)}; --quantize int4 ${gb(memory.train_checkpointing_int4!)}`,
      `  eval ${gb(memory.eval!)}; generate ${gb(memory.generate!)}; generate --quantize int8 ${gb(memory.generate_int8!)}, int4 ${gb(memory.generate_int4!)}`,
    );
  }
  let adapterInfo: Record<string, unknown> | null = null;
  if (typeof values.adapter === 'string') {
    const model = loadCausalLM(dir, { keepStoredDtype: true, keepStoredBlocks: true }); // read only: a BF16 model is mapped, a GGUF's blocks kept, not widened
    const adapter = loadAdapter(values.adapter, model);
    lines.push(`adapter ${values.adapter}: ${adapter.method}, ${adapter.trainableCount()} trainable parameters`, ...adapter.describe().map((l) => `  ${l}`));
    adapterInfo = { method: adapter.method, trainable: adapter.trainableCount() };
  }
  console.log(lines.join('\n'));
  if (values.json) console.log(JSON.stringify({ architecture: c.architecture, parameters: total, rank, targets, gift_trainable: typeof gift === 'number' ? gift : null, lora_trainable: typeof lora === 'number' ? lora : null, weights, adapter: adapterInfo, memory_bytes: memory }));
  return 0;
}

/**
 * An encoder folder: sizes from the model as `build` makes it (shapes where the family has them), and
 * what GIFT and LoRA would train on it (attached for real); `load` reads the weights, for --adapter alone.
 */
function inspectEncoder(dir: string, values: Record<string, unknown>, build: () => Module, load: (o: LoadOptions) => Module, defaultTargets: string[], defaultRank: number, kind: 'sequence-classifier' | 'image-classifier'): number {
  const rank = intOption(values.rank, 'rank', defaultRank);
  const targets = listOption(values.targets) ?? defaultTargets;
  const layers = layersOption(values.layers);
  const architecture = modelArchitectureOrNull(dir) ?? 'unknown';
  // The encoder alone (a 1-output head is attached to build it, and left out of the counts).
  const model = build();
  const linears = model.namedModules().filter(([n]) => /(^|\.)query$/.test(n));
  const total = model.namedParameters().filter(([n]) => !n.startsWith('classifier.')).reduce((n, [, p]) => n + p.size, 0);
  const gift = attachAdapter(build(), { method: 'gift', rank, target_modules: targets, layers });
  const lora = attachAdapter(build(), { method: 'lora', rank, target_modules: targets, layers });
  const lines = [
    `model: ${dir}`,
    `architecture: ${architecture}; ${linears.length} attention layers`,
    `parameters: ${total} (${human(total)}) without the classification head`,
    `trainable on ${targets.join(',')}${layers ? ` in layers ${layers.join(',')}` : ''}, rank ${rank}:`,
    `  GIFT ${gift.trainableCount()} (${human(gift.trainableCount())}):`, ...gift.describe().map((l) => `    ${l}`),
    `  LoRA ${lora.trainableCount()} (${human(lora.trainableCount())}): rank x (in + out) per adapted layer; LoRA / GIFT = ${(lora.trainableCount() / gift.trainableCount()).toFixed(2)}x`,
    '  (a classification head trains beside either)',
  ];
  if (typeof values.adapter === 'string') {
    // With the head the adapter trained (its labels, or one score for a regression; a sentence encoder's pair head):
    // a 1-output head had refused every classifier adapter's.
    const adapter = loadAdapter(values.adapter, load(headOptionsOfTask(readAdapterConfig(values.adapter).task as AdapterTask | undefined, kind)));
    lines.push(`adapter ${values.adapter}: ${adapter.method}, ${adapter.trainableCount()} trainable parameters`, ...adapter.describe().map((l) => `    ${l}`));
  }
  // gift train's estimate of its step (a dry run over the model's shapes), GIFT on the targets with a 2-label head.
  const batch = intOption(values['batch-size'], 'batch-size', DEFAULT_TRAIN_OPTIONS.batchSize);
  const shapes = buildClassifierShapes(dir, kind, { numLabels: 2 }) as (SequenceClassifier & Module) | null;
  const length = kind === 'sequence-classifier' && shapes ? intOption(values['max-length'], 'max-length', Math.min(128, shapes.maxTokens)) : 0;
  const memory = shapes ? estimateClassifierMemory(dir, { kind, batch, length, numLabels: 2, method: { method: 'gift', rank, target_modules: targets, layers } }) : null;
  if (memory) lines.push(`memory of gift train (GIFT as above, a 2-label head), ${batch} ${kind === 'image-classifier' ? 'images' : `x ${length} tokens`} a step: about ${describeEstimate(memory)}`);
  console.log(lines.join('\n'));
  if (values.json) console.log(JSON.stringify({ architecture, parameters: total, rank, targets, gift_trainable: gift.trainableCount(), lora_trainable: lora.trainableCount(), ...(memory ? { train_memory_bytes: memory.bytes } : {}) }));
  return 0;
}

/** config.json's architecture (Hugging Face "architectures" or timm "architecture"), or null. */
function modelArchitectureOrNull(dir: string): string | null {
  const raw = readJsonFile(join(dir, 'config.json'));
  const a = (raw.architectures as unknown[] | undefined)?.[0] ?? raw.architecture;
  return typeof a === 'string' ? a : null;
}

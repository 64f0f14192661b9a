// The model families, as data: one entry per family (its kind, the config.json it reads, the paper's
// GIFT setting for it, how to load a folder). Everything outside src/models asks here which family a
// folder holds and loads it through its entry, so adding a family is its folder plus one entry
// (registerModelFamily, or a line in FAMILIES).
import { join } from 'node:path';
import { readJsonFile } from '../io/hf_folder.js';
import type { Module } from '../nn/module.js';
import { BERT_ARCHITECTURES, readBertConfig, ROBERTA_ARCHITECTURES } from './bert/config.js';
import { BertForSequenceClassification } from './bert/model.js';
import type { SequenceClassifier } from './encoder.js';
import { LLAMA_ARCHITECTURES, LLAMA_MODEL_TYPES, parseLlamaConfig } from './llama/config.js';
import type { CausalLM, CausalLMConfig, WeightLoadOptions } from './causal_lm.js';
import { Random } from '../tensor/random.js';
import { LlamaForCausalLM } from './llama/model.js';
import { llamaFromGguf } from './llama/gguf.js';
import type { GgufFile } from '../io/gguf_reader.js';
import type { GgufImport } from './gguf_import.js';
import { GEMMA_ARCHITECTURES, GEMMA_MODEL_TYPES, parseGemmaConfig } from './gemma/config.js';
import { GemmaForCausalLM } from './gemma/model.js';
import { gemmaFromGguf } from './gemma/gguf.js';
import { PHI_ARCHITECTURES, PHI_MODEL_TYPES, parsePhiConfig } from './phi/config.js';
import { PhiForCausalLM } from './phi/model.js';
import { readUseLiteConfig, USE_LITE_ARCHITECTURE } from './use_lite/config.js';
import { UseLiteForSequenceClassification } from './use_lite/model.js';
import { ViTForImageClassification } from './vit/model.js';
import { readViTConfig } from './vit/config.js';
import { GiftjsError } from '../errors.js';
import { withBackend } from '../backend/index.js';
import type { Backend } from '../backend/backend.js';
import { metaBackend } from '../backend/meta/index.js';

export type ModelKind = 'causal-lm' | 'sequence-classifier' | 'image-classifier';

/**
 * What a task asks of a classifier folder (its labels by number or by name, a seed for a new head),
 * and how a causal LM holds its weights (WeightLoadOptions).
 */
export interface LoadOptions extends WeightLoadOptions {
  numLabels?: number;
  labels?: string[];
  seed?: number;
  /** Sentence pairs: a sentence encoder then classifies the pair of embeddings. */
  pairs?: boolean;
}

export interface ModelFamily {
  readonly name: string;
  readonly kind: ModelKind;
  /** The config.json "architectures" entries this family reads (for messages and inspect). */
  readonly architectures: readonly string[];
  /** True for a config.json this family reads (by architecture, or timm's own field). */
  accepts(config: Record<string, unknown>): boolean;
  /** The paper's GIFT setting for the family: what inspect counts by default. */
  readonly giftTargets: readonly string[];
  readonly giftRank: number;
  /** Builds and loads a folder's model for this family's task. */
  load(dir: string, options: LoadOptions): Module;
  /**
   * The module tree of a config.json object, weights random (rng) or zeros awaiting a checkpoint
   * (null); on the meta backend, shapes alone. Language-model families have it.
   */
  fromConfig?(config: Record<string, unknown>, source: string, rng: Random | null): CausalLM;
  /** A config.json object parsed as the family reads it (language-model families). */
  parseConfig?(config: Record<string, unknown>, source: string): CausalLMConfig;
  /**
   * A classifier folder's model with the head the options ask for, built from its config alone (no
   * weight read): under the meta backend, shapes only, for a step's memory before loading
   * (train/classifier_memory.ts). Classifier families have it.
   */
  shapes?(dir: string, options: LoadOptions): Module;
  /** GGUF architectures (general.architecture) the family reads, each with its mapping (models/gguf_import.ts). */
  fromGguf?: Record<string, (file: GgufFile) => GgufImport>;
  /** false: its models have no GGUF form yet, so gift export --format gguf refuses them before loading anything. */
  readonly ggufExport?: false;
}

function architectureField(config: Record<string, unknown>): string | undefined {
  const a = (config.architectures as unknown[] | undefined)?.[0];
  return typeof a === 'string' ? a : undefined;
}

const byArchitecture = (names: readonly string[]) => (config: Record<string, unknown>) => names.includes(architectureField(config) ?? '');

/** A sentence encoder classifies pairs of embeddings when the task has pairs, or its (merged) folder says so. */
const usesPairHead = (dir: string, o: LoadOptions) => o.pairs === true || readJsonFile(join(dir, 'config.json')).pair_head === true;

const FAMILIES: ModelFamily[] = [
  {
    name: 'llama', kind: 'causal-lm', architectures: LLAMA_ARCHITECTURES,
    // A config without "architectures" is read by its model_type, as transformers does.
    accepts: (c) => (architectureField(c) !== undefined ? byArchitecture(LLAMA_ARCHITECTURES)(c) : LLAMA_MODEL_TYPES.includes(String(c.model_type))),
    giftTargets: ['q_proj', 'v_proj'], giftRank: 64,
    load: (dir, o) => LlamaForCausalLM.fromPretrained(dir, o),
    fromConfig: (config, source, rng) => new LlamaForCausalLM(parseLlamaConfig(config, source), rng),
    parseConfig: parseLlamaConfig,
    fromGguf: { llama: (f) => llamaFromGguf(f, 'llama'), qwen2: (f) => llamaFromGguf(f, 'qwen2'), qwen3: (f) => llamaFromGguf(f, 'qwen3'), phi3: (f) => llamaFromGguf(f, 'phi3') },
  },
  {
    name: 'gemma', kind: 'causal-lm', architectures: GEMMA_ARCHITECTURES,
    accepts: (c) => (architectureField(c) !== undefined ? byArchitecture([...GEMMA_ARCHITECTURES, 'Gemma3ForConditionalGeneration'])(c) : GEMMA_MODEL_TYPES.includes(String(c.model_type))),
    giftTargets: ['q_proj', 'v_proj'], giftRank: 64,
    load: (dir, o) => GemmaForCausalLM.fromPretrained(dir, o),
    fromConfig: (config, source, rng) => new GemmaForCausalLM(parseGemmaConfig(config, source), rng),
    parseConfig: parseGemmaConfig,
    fromGguf: { gemma: (f) => gemmaFromGguf(f, 'gemma'), gemma2: (f) => gemmaFromGguf(f, 'gemma2'), gemma3: (f) => gemmaFromGguf(f, 'gemma3') },
  },
  {
    name: 'phi', kind: 'causal-lm', architectures: PHI_ARCHITECTURES,
    accepts: (c) => (architectureField(c) !== undefined ? byArchitecture(PHI_ARCHITECTURES)(c) : PHI_MODEL_TYPES.includes(String(c.model_type))),
    giftTargets: ['q_proj', 'v_proj'], giftRank: 64,
    load: (dir, o) => PhiForCausalLM.fromPretrained(dir, o),
    fromConfig: (config, source, rng) => new PhiForCausalLM(parsePhiConfig(config, source), rng),
    parseConfig: parsePhiConfig, ggufExport: false,
  },
  {
    name: 'bert', kind: 'sequence-classifier', architectures: [...BERT_ARCHITECTURES, ...ROBERTA_ARCHITECTURES],
    accepts: byArchitecture([...BERT_ARCHITECTURES, ...ROBERTA_ARCHITECTURES]), giftTargets: ['query', 'value'], giftRank: 32,
    load: (dir, o) => BertForSequenceClassification.fromPretrained(dir, o.labels?.length ?? o.numLabels ?? 2, o.seed ?? 0),
    shapes: (dir, o) => new BertForSequenceClassification(readBertConfig(dir), o.labels?.length ?? o.numLabels ?? 2, new Random(0)),
  },
  {
    name: 'use-lite', kind: 'sequence-classifier', architectures: [USE_LITE_ARCHITECTURE], accepts: byArchitecture([USE_LITE_ARCHITECTURE]),
    giftTargets: ['query', 'value'], giftRank: 32,
    load: (dir, o) => UseLiteForSequenceClassification.fromPretrainedWithHead(dir, o.labels?.length ?? o.numLabels ?? 2, o.seed ?? 0, usesPairHead(dir, o)),
    shapes: (dir, o) => new UseLiteForSequenceClassification(readUseLiteConfig(dir), o.labels?.length ?? o.numLabels ?? 2, new Random(0), usesPairHead(dir, o)),
  },
  {
    name: 'vit', kind: 'image-classifier', architectures: ['ViTForImageClassification', 'vit_* (timm)'],
    accepts: (c) => architectureField(c) === 'ViTForImageClassification' || (typeof c.architecture === 'string' && c.architecture.startsWith('vit_')),
    giftTargets: ['attention.output.dense'], giftRank: 16,
    load: (dir, o) => ViTForImageClassification.fromPretrained(dir, { ...(o.labels ? { labels: o.labels } : {}), ...(o.numLabels ? { numLabels: o.numLabels } : {}), seed: o.seed }),
    shapes: (dir, o) => {
      const { config } = readViTConfig(dir);
      return new ViTForImageClassification({ ...config, numLabels: o.labels?.length ?? o.numLabels ?? config.numLabels }, new Random(0));
    },
  },
];

/** Adds a family (checked before the built-in ones, so a registered family can also override). */
export function registerModelFamily(family: ModelFamily): void {
  FAMILIES.unshift(family);
}

export function modelFamilies(): readonly ModelFamily[] {
  return FAMILIES;
}

/** The family of a model folder, from its config.json; a clear error names what is supported. */
export function modelFamily(dir: string): ModelFamily {
  const path = join(dir, 'config.json');
  const config = readJsonFile(path);
  const family = FAMILIES.find((f) => f.accepts(config));
  if (!family) {
    const named = architectureField(config) ?? (typeof config.architecture === 'string' ? config.architecture : undefined);
    throw new GiftjsError(`${path}: architecture ${JSON.stringify(named ?? null)} is not supported (supported: ${FAMILIES.flatMap((f) => f.architectures).join(', ')})`);
  }
  return family;
}

/** "int4 quantized: 155 matrices, 4.5 GB" -- what a quantized load (loadCausalLM's quantize) holds. */
export function describeQuantized(model: Module): string {
  const quantized = model.parameters().map((p) => p.quantized).filter((q) => q !== null);
  const bytes = quantized.reduce((n, q) => n + q.bytes, 0);
  const formats = [...new Set(quantized.map((q) => q.format))].join('/');
  return `${formats || 'nothing'} quantized: ${quantized.length} matrices, ${bytes < 1e9 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e9).toFixed(2)} GB`}`;
}

/** Loads a folder's model, requiring the given kind (a language model where one is needed, ...). */
export function loadModel(dir: string, kind: ModelKind, options: LoadOptions = {}): Module {
  const family = modelFamily(dir);
  if (family.kind !== kind) {
    const supported = FAMILIES.filter((f) => f.kind === kind).flatMap((f) => f.architectures);
    throw new GiftjsError(`${join(dir, 'config.json')}: a ${family.name} model is a ${family.kind}, not a ${kind} (${kind} architectures: ${supported.join(', ')})`);
  }
  return family.load(dir, options);
}

export function loadCausalLM(dir: string, options: LoadOptions = {}): CausalLM {
  return loadModel(dir, 'causal-lm', options) as CausalLM;
}

/** The language-model family that reads a config.json object; a clear error names what is supported. */
function causalFamily(config: Record<string, unknown>, source: string): ModelFamily {
  const family = FAMILIES.find((f) => f.kind === 'causal-lm' && f.accepts(config));
  if (!family?.fromConfig || !family.parseConfig) {
    const named = architectureField(config) ?? (typeof config.model_type === 'string' ? config.model_type : null);
    throw new GiftjsError(`${source}: architecture ${JSON.stringify(named)} is not a supported language model (supported: ${FAMILIES.filter((f) => f.kind === 'causal-lm').flatMap((f) => f.architectures).join(', ')})`);
  }
  return family;
}

/** A language model built from a config.json object (benchmarks: random weights; rng null: zeros awaiting values). */
export function causalLMFromConfig(config: Record<string, unknown>, source: string, rng: Random | null): CausalLM {
  return causalFamily(config, source).fromConfig!(config, source, rng);
}

/**
 * An encoder with a classification head of numLabels outputs (the folder's own head if it fits, else
 * a new seeded one). `pairs`: the examples are sentence pairs -- a sentence encoder (USE Lite) then
 * encodes each text alone and classifies the pair of embeddings; BERT-style models read the pair as
 * one sequence either way.
 */
export function loadSequenceClassifier(dir: string, numLabels: number, seed = 0, pairs = false): SequenceClassifier & Module {
  return loadModel(dir, 'sequence-classifier', { numLabels, seed, pairs }) as SequenceClassifier & Module;
}

export function loadImageClassifier(dir: string, options: LoadOptions = {}): ViTForImageClassification {
  return loadModel(dir, 'image-classifier', options) as ViTForImageClassification;
}

/**
 * A folder's model as shapes only: the real module tree built on the meta backend (no storage, no
 * weights read), for sizes before anything is spent. Null for a family that cannot build one.
 */
export function buildModelShapes(dir: string, kind: ModelKind): Module | null {
  const family = modelFamily(dir);
  if (family.kind !== kind || !family.fromConfig) return null;
  return causalLMShapes(dir);
}

/** A classifier folder's model as shapes (ModelFamily.shapes) on the given backend (meta, or meta's dry run); null for a family without them. */
export function buildClassifierShapes(dir: string, kind: ModelKind, options: LoadOptions, backend: Backend = metaBackend): (SequenceClassifier | ViTForImageClassification) & Module | null {
  const family = modelFamily(dir);
  if (family.kind !== kind || !family.shapes) return null;
  return withBackend(backend, () => family.shapes!(dir, options)) as (SequenceClassifier | ViTForImageClassification) & Module;
}

/** A language-model folder's config, as its family reads it. */
export function readModelConfig(dir: string): CausalLMConfig {
  const path = join(dir, 'config.json');
  const config = readJsonFile(path);
  return causalFamily(config, path).parseConfig!(config, path);
}

/**
 * A language-model folder's model as shapes alone (on the meta backend): its module tree, for work that
 * needs the layers' names and shapes but none of their weights (an adapter's conversion to another
 * layout). An adapter attached to it holds real tensors.
 */
export function causalLMShapes(dir: string): CausalLM {
  const path = join(dir, 'config.json');
  const config = readJsonFile(path);
  return withBackend(metaBackend, () => causalFamily(config, path).fromConfig!(config, path, null));
}

/** Architectures with a sequence-classification form. */
export const SEQUENCE_CLASSIFICATION_ARCHITECTURES: readonly string[] = [USE_LITE_ARCHITECTURE, ...BERT_ARCHITECTURES, ...ROBERTA_ARCHITECTURES];

/** The architecture a model folder's config.json names. */
export function modelArchitecture(dir: string): string {
  const path = join(dir, 'config.json');
  const config = readJsonFile(path);
  const arch = architectureField(config) ?? (typeof config.architecture === 'string' ? config.architecture : undefined);
  if (!arch) throw new GiftjsError(`${path}: no 'architectures' entry`);
  return arch;
}

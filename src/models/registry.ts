// Loading models from Hugging Face folders by the architecture their config.json names.
import { join } from 'node:path';
import { readJsonFile } from '../io/hf_folder.js';
import { LLAMA_ARCHITECTURES, parseLlamaConfig, type LlamaConfig } from './llama/config.js';
import { LlamaForCausalLM } from './llama/model.js';
import { USE_LITE_ARCHITECTURE } from './use_lite/config.js';
import { BERT_ARCHITECTURES, ROBERTA_ARCHITECTURES } from './bert/config.js';
import { BertForSequenceClassification } from './bert/model.js';
import type { SequenceClassifier } from './encoder.js';
import type { Module } from '../nn/module.js';
import { UseLiteForSequenceClassification } from './use_lite/model.js';
import { GiftjsError } from '../errors.js';

export function readModelConfig(dir: string): LlamaConfig {
  const path = join(dir, 'config.json');
  return parseLlamaConfig(readJsonFile(path), path);
}

export function loadCausalLM(dir: string): LlamaForCausalLM {
  return LlamaForCausalLM.fromPretrained(dir);
}

export const SUPPORTED_ARCHITECTURES: readonly string[] = LLAMA_ARCHITECTURES;

/** Architectures with a sequence-classification form (a head on the pooled output). */
export const SEQUENCE_CLASSIFICATION_ARCHITECTURES: readonly string[] = [USE_LITE_ARCHITECTURE, ...BERT_ARCHITECTURES, ...ROBERTA_ARCHITECTURES];

/** The architecture a model folder's config.json names. */
export function modelArchitecture(dir: string): string {
  return architectureOf(readJsonFile(join(dir, 'config.json')), join(dir, 'config.json'));
}

function architectureOf(config: Record<string, unknown>, path: string): string {
  const arch = (config.architectures as unknown[] | undefined)?.[0];
  if (typeof arch !== 'string') throw new GiftjsError(`${path}: no 'architectures' entry`);
  return arch;
}

/**
 * An encoder with a classification head of numLabels outputs (the folder's own head if it fits, else
 * a new seeded one). `pairs`: the examples are sentence pairs -- a sentence encoder (USE Lite) then
 * encodes each text alone and classifies the pair of embeddings; BERT-style models read the pair as
 * one sequence either way. A merged folder says "pair_head" in its config.json.
 */
export function loadSequenceClassifier(dir: string, numLabels: number, seed = 0, pairs = false): SequenceClassifier & Module {
  const path = join(dir, 'config.json');
  const config = readJsonFile(path);
  const arch = architectureOf(config, path);
  if (arch === USE_LITE_ARCHITECTURE) {
    const pairHead = pairs || config.pair_head === true;
    return UseLiteForSequenceClassification.fromPretrainedWithHead(dir, numLabels, seed, pairHead);
  }
  if (BERT_ARCHITECTURES.includes(arch) || ROBERTA_ARCHITECTURES.includes(arch)) return BertForSequenceClassification.fromPretrained(dir, numLabels, seed);
  throw new GiftjsError(`${join(dir, 'config.json')}: architecture ${arch} has no sequence-classification form in giftjs (supported: ${SEQUENCE_CLASSIFICATION_ARCHITECTURES.join(', ')})`);
}

// Loading a causal LM from a Hugging Face folder by its config.json architecture.
import { join } from 'node:path';
import { readJsonFile } from '../io/hf_folder.js';
import { LLAMA_ARCHITECTURES, parseLlamaConfig, type LlamaConfig } from './llama/config.js';
import { LlamaForCausalLM } from './llama/model.js';

export function readModelConfig(dir: string): LlamaConfig {
  const path = join(dir, 'config.json');
  return parseLlamaConfig(readJsonFile(path), path);
}

export function loadCausalLM(dir: string): LlamaForCausalLM {
  return LlamaForCausalLM.fromPretrained(dir);
}

export const SUPPORTED_ARCHITECTURES: readonly string[] = LLAMA_ARCHITECTURES;

// Loading what the model commands share: the model folder, its tokenizer, an optional adapter.
import { Tokenizer } from '../io/tokenizer.js';
import type { LlamaForCausalLM } from '../models/llama/model.js';
import { loadCausalLM } from '../models/registry.js';
import { loadAdapter } from '../peft/adapter_io.js';
import type { AttachedAdapter } from '../peft/method.js';

export interface LoadedModel {
  model: LlamaForCausalLM;
  adapter: AttachedAdapter | null;
}

export function loadModelWithAdapter(modelDir: string, adapterDir: string | undefined): LoadedModel {
  const model = loadCausalLM(modelDir);
  const adapter = adapterDir ? loadAdapter(adapterDir, model) : null;
  return { model, adapter };
}

export function loadTokenizer(modelDir: string): Tokenizer {
  return Tokenizer.fromFolder(modelDir);
}

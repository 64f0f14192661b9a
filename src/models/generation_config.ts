// generation_config.json's end-of-generation tokens. transformers' generate stops at the ids this file
// names (model.generation_config), which instruction-tuned checkpoints set apart from config.json's:
// Gemma 2's <end_of_turn> (107) beside <eos> (1), Llama 3.1's <|eom_id|> and <|eot_id|>, Qwen2.5's
// <|endoftext|> beside <|im_end|>. Without them a chat answer runs past its turn into the next.
import { join } from 'node:path';
import { fileExists } from '../io/files.js';
import { readJsonFile } from '../io/hf_folder.js';
import { GiftjsError } from '../errors.js';

/** config.json's end tokens, then those generation_config.json adds (none where the file is absent). */
export function generationEndTokens(dir: string, fromConfig: readonly number[]): number[] {
  const path = join(dir, 'generation_config.json');
  if (!fileExists(path)) return [...fromConfig];
  const v = readJsonFile(path).eos_token_id;
  if (v === undefined || v === null) return [...fromConfig];
  const ids = Array.isArray(v) ? v : [v];
  if (!ids.every((id) => Number.isInteger(id) && id >= 0)) {
    throw new GiftjsError(`${path}: eos_token_id must be a token id or a list of them (whole numbers >= 0), got ${JSON.stringify(v)}`);
  }
  return [...new Set([...fromConfig, ...(ids as number[])])];
}

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

/**
 * The sampling generation_config.json asks transformers' generate for by default (do_sample: true),
 * with GenerationConfig's own defaults where the file is silent (temperature 1, top_k 50, top_p 1,
 * no min_p, repetition_penalty 1); null where it asks for none. giftjs decodes greedily unless told otherwise
 * (as mlx-lm does), so gift generate and gift serve say so when a checkpoint asks for sampling.
 */
export interface FileSampling {
  temperature: number;
  topK: number;
  topP: number;
  /** 0 where the file sets none (transformers applies no min-p then). */
  minP: number;
  repetitionPenalty: number;
}

export function generationSampling(dir: string): FileSampling | null {
  const path = join(dir, 'generation_config.json');
  if (!fileExists(path)) return null;
  const file = readJsonFile(path) as Record<string, unknown>;
  if (file.do_sample !== true) return null;
  const field = (name: string, fallback: number, ok: (v: number) => boolean, allowed: string): number => {
    const v = file[name];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !ok(v)) throw new GiftjsError(`${path}: ${name} must be ${allowed}, got ${JSON.stringify(v)}`);
    return v;
  };
  return {
    temperature: field('temperature', 1, (v) => v > 0 && Number.isFinite(v), 'a number above 0'),
    topK: field('top_k', 50, (v) => Number.isInteger(v) && v >= 0, 'a whole number >= 0'),
    topP: field('top_p', 1, (v) => v > 0 && v <= 1, 'in (0, 1]'),
    minP: field('min_p', 0, (v) => v >= 0 && v <= 1, 'in [0, 1]'),
    repetitionPenalty: field('repetition_penalty', 1, (v) => v > 0 && Number.isFinite(v), 'a number above 0'),
  };
}

/**
 * The note gift generate and gift serve print where a checkpoint asks for sampling and the user gave
 * no temperature: what the file asks for, what giftjs does instead (`policy`), and how to sample as it
 * asks (gift generate's flags, or a request's fields).
 */
export function fileSamplingNote(dir: string, policy: string, as: 'flags' | 'request fields'): string | null {
  const s = generationSampling(dir);
  if (s === null) return null;
  // (top_k 0 and top_p 1 are off, in transformers as in giftjs.)
  const asked: [string, string, number][] = [['temperature', '--temperature', s.temperature]];
  if (s.topK !== 0) asked.push(['top_k', '--top-k', s.topK]);
  if (s.topP !== 1) asked.push(['top_p', '--top-p', s.topP]);
  if (s.minP !== 0) asked.push(['min_p', '--min-p', s.minP]);
  if (s.repetitionPenalty !== 1) asked.push(['repetition_penalty', '--repetition-penalty', s.repetitionPenalty]);
  const fields = asked.map(([field, , v]) => `${field} ${v}`).join(', ');
  const how = as === 'flags' ? asked.map(([, flag, v]) => `${flag} ${v}`).join(' ') : `requests with ${asked.map(([field, , v]) => `"${field}": ${v}`).join(', ')}`;
  return `note: ${join(dir, 'generation_config.json')} asks for sampling (do_sample: ${fields}), as transformers' generate does by default; ${policy}. To sample as it asks: ${how}`;
}

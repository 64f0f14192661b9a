// Upper bounds on the sizes a config.json may declare, far above any released model: a size past
// them is a broken or hostile file, refused before anything is built from it (a layer list of 1e9
// entries, a table of 5e7 x 4096 floats).
import { GiftjsError } from '../errors.js';

const SIZE_LIMITS = new Map<string, number>([
  ['vocab_size', 4_194_304], ['hidden_size', 65_536], ['embedding_size', 65_536], ['intermediate_size', 1_048_576],
  ['num_hidden_layers', 1024], ['num_attention_heads', 1024], ['num_key_value_heads', 1024], ['head_dim', 4096],
  ['max_position_embeddings', 134_217_728], ['type_vocab_size', 1024], ['image_size', 16_384], ['patch_size', 1024],
  ['num_channels', 64], ['num_labels', 1_048_576], ['pad_token_id', 4_194_304],
]);

/** Throws when config field `key` declares more than giftjs accepts; other keys are unbounded. */
export function checkSizeLimit(key: string, value: number, source: string): void {
  const most = SIZE_LIMITS.get(key);
  if (most !== undefined && value > most) throw new GiftjsError(`${source}: '${key}' is ${value}, more than giftjs accepts (${most})`);
}

/**
 * The field readers model configs share, failing through `fail` (which names the file): positive
 * integers (size-checked before anything is sized by them), positive finite numbers and dropout
 * probabilities in [0, 1), each with transformers' default when the key is absent (or null).
 */
export function configNumbers(raw: Record<string, unknown>, source: string, fail: (msg: string) => never): {
  int: (key: string, fallback?: number) => number;
  positive: (key: string, fallback: number) => number;
  probability: (key: string, fallback: number) => number;
} {
  return {
    int: (key, fallback) => {
      const v = raw[key] ?? fallback;
      if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) return fail(`'${key}' must be a positive integer, got ${JSON.stringify(raw[key])}`);
      checkSizeLimit(key, v, source);
      return v;
    },
    positive: (key, fallback) => {
      const v = raw[key] ?? fallback;
      if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) return fail(`'${key}' must be a positive number, got ${JSON.stringify(raw[key])}`);
      return v;
    },
    probability: (key, fallback) => {
      const v = raw[key] ?? fallback;
      if (typeof v !== 'number' || !(v >= 0 && v < 1)) return fail(`'${key}' must be a dropout probability in [0, 1), got ${JSON.stringify(raw[key])}`);
      return v;
    },
  };
}

/** transformers 5 writes `dtype`, 4 wrote `torch_dtype`. */
export function configDtype(raw: Record<string, unknown>): string | null {
  const v = raw.dtype ?? raw.torch_dtype;
  return typeof v === 'string' ? v : null;
}

/** config.json's eos_token_id: one id, a list of them, or none. */
export function configTokenIds(v: unknown): number[] {
  return typeof v === 'number' ? [v] : Array.isArray(v) ? v.filter((e): e is number => typeof e === 'number') : [];
}

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

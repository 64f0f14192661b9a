// A model folder's tokenizer as GGUF metadata (the tokenizer.ggml.* keys llama.cpp reads). So far the
// SentencePiece kind that Llama 2-style folders carry -- tokenizer.json a BPE with byte fallback over
// "▁"-prefixed text -- written as llama.cpp's "llama" vocabulary: every token in id order, a score
// (SentencePiece's merge priority: the token the k-th merge makes scores -k, so earlier merges win),
// and a type (normal, unknown, control, byte). Byte-level BPE vocabularies (Llama 3, Qwen) need
// llama.cpp's pre-tokenizer name and are refused by name for now.
import { join } from 'node:path';
import { readJsonFile } from './hf_folder.js';
import type { GgufValue } from './gguf.js';
import { GiftjsError } from '../errors.js';

/** llama.cpp's token types. */
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;

export function ggufTokenizerMetadata(dir: string): [string, GgufValue][] {
  const path = join(dir, 'tokenizer.json');
  const tok = readJsonFile(path) as { model?: Record<string, unknown>; added_tokens?: { id: number; content: string; special?: boolean }[]; pre_tokenizer?: unknown; normalizer?: unknown };
  const model = tok.model ?? {};
  if (model.type !== 'BPE' || model.byte_fallback !== true || tok.pre_tokenizer) {
    throw new GiftjsError(`${path}: GGUF export writes SentencePiece-style vocabularies (a BPE with byte_fallback, as Llama 2's); this ${String(model.type)} vocabulary${tok.pre_tokenizer ? ' with a pre-tokenizer (byte-level BPE, as Llama 3\'s)' : ''} is not supported yet`);
  }
  if (typeof model.vocab !== 'object' || model.vocab === null || Array.isArray(model.vocab)) throw new GiftjsError(`${path}: model.vocab must be an object of token -> id`);
  // A Map, not the parsed object: a token named "constructor" is a token, not Object's property.
  const vocab = new Map(Object.entries(model.vocab as Record<string, unknown>));
  const merges = Array.isArray(model.merges) ? (model.merges as unknown[]) : [];
  const added = Array.isArray(tok.added_tokens) ? tok.added_tokens : [];
  const entries: [string, unknown][] = [...vocab, ...added.map((a): [string, unknown] => [String(a.content), a.id])];
  const byId = new Map<number, string>();
  for (const [piece, id] of entries) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new GiftjsError(`${path}: token ${JSON.stringify(piece)} has id ${JSON.stringify(id)}, not a whole number >= 0`);
    const other = byId.get(id);
    if (other !== undefined && other !== piece) throw new GiftjsError(`${path}: id ${id} names both ${JSON.stringify(other)} and ${JSON.stringify(piece)}`);
    byId.set(id, piece);
  }
  // A GGUF vocabulary lists every id: 0 .. n - 1, nothing sized by an id before that holds.
  const tokens: string[] = [];
  for (let id = 0; id < byId.size; id++) {
    const piece = byId.get(id);
    if (piece === undefined) throw new GiftjsError(`${path}: token ids are not contiguous from 0 (${byId.size} tokens, no id ${id}); a GGUF vocabulary lists every id`);
    tokens.push(piece);
  }
  const size = tokens.length;
  const scores = new Float32Array(size);
  merges.forEach((m, k) => {
    const [a, b] = typeof m === 'string' ? m.split(' ') : Array.isArray(m) ? m : [];
    const id = vocab.get(`${String(a)}${String(b)}`);
    if (typeof id === 'number' && scores[id] === 0) scores[id] = -(k + 1);
  });
  const special = new Set(added.filter((a) => a.special).map((a) => a.id));
  const unk = typeof model.unk_token === 'string' ? (vocab.get(model.unk_token) as number | undefined) ?? null : null;
  const types = tokens.map((t, id) =>
    id === unk ? TOKEN_TYPE.unknown : special.has(id) ? TOKEN_TYPE.control : /^<0x[0-9A-F]{2}>$/.test(t) ? TOKEN_TYPE.byte : TOKEN_TYPE.normal);

  const config = readJsonFile(join(dir, 'tokenizer_config.json')) as Record<string, unknown>;
  const idOf = (field: string): number | null => {
    const v = config[field];
    const name = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as { content?: unknown }).content : null;
    return typeof name === 'string' ? tokens.indexOf(name) : null;
  };
  const out: [string, GgufValue][] = [
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: tokens }],
    ['tokenizer.ggml.scores', { type: 'f32[]', value: scores }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: types }],
  ];
  for (const [key, field] of [['bos_token_id', 'bos_token'], ['eos_token_id', 'eos_token'], ['unknown_token_id', 'unk_token'], ['padding_token_id', 'pad_token']] as const) {
    const id = idOf(field);
    if (id !== null && id >= 0) out.push([`tokenizer.ggml.${key}`, { type: 'u32', value: id }]);
  }
  if (typeof config.add_bos_token === 'boolean') out.push(['tokenizer.ggml.add_bos_token', { type: 'bool', value: config.add_bos_token }]);
  if (typeof config.add_eos_token === 'boolean') out.push(['tokenizer.ggml.add_eos_token', { type: 'bool', value: config.add_eos_token }]);
  if (typeof config.chat_template === 'string') out.push(['tokenizer.chat_template', { type: 'string', value: config.chat_template }]);
  return out;
}

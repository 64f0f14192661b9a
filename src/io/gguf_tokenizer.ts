// A model folder's tokenizer as GGUF metadata (the tokenizer.ggml.* keys llama.cpp reads): the
// SentencePiece kind that Llama 2-style folders carry -- tokenizer.json a BPE with byte fallback over
// "▁"-prefixed text -- as llama.cpp's "llama" vocabulary (every token in id order, a score:
// SentencePiece's merge priority, the token the k-th merge makes scores -k, and a type: normal,
// unknown, control, byte); and byte-level BPE (Llama 3, Qwen) as its "gpt2" vocabulary (tokens, merges,
// and the name llama.cpp gives the split pattern). Other vocabularies are refused by name.
import { join } from 'node:path';
import { readJsonFile } from './hf_folder.js';
import { readChatTemplate } from './tokenizer.js';
import type { GgufValue } from './gguf.js';
import { GiftjsError } from '../errors.js';
import { BYTE_LEVEL_PRE_TOKENIZERS } from './byte_level_bpe_json.js';

/** llama.cpp's token types. */
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, byte: 6 } as const;

export function ggufTokenizerMetadata(dir: string): [string, GgufValue][] {
  const path = join(dir, 'tokenizer.json');
  const tok = readJsonFile(path) as { model?: Record<string, unknown>; added_tokens?: { id: number; content: string; special?: boolean }[]; pre_tokenizer?: unknown; normalizer?: unknown };
  const model = tok.model ?? {};
  const byteLevelPre = model.type === 'BPE' && model.byte_fallback !== true ? byteLevelPreName(tok.pre_tokenizer) : null;
  if (model.type !== 'BPE' || (model.byte_fallback !== true && byteLevelPre === null) || (model.byte_fallback === true && tok.pre_tokenizer)) {
    throw new GiftjsError(`${path}: GGUF export writes SentencePiece-style vocabularies (a BPE with byte_fallback, as Llama 2's) and byte-level BPE split by a pattern llama.cpp names (${Object.keys(BYTE_LEVEL_PRE_TOKENIZERS).join(', ')}); this ${String(model.type)} vocabulary is neither`);
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
  const special = new Set(added.filter((a) => a.special).map((a) => a.id));
  const config = readJsonFile(join(dir, 'tokenizer_config.json')) as Record<string, unknown>;
  const chatTemplate = readChatTemplate(dir, config);
  if (byteLevelPre !== null) {
    // Byte-level BPE ("gpt2"): the tokens, the merges in order and the split pattern's name.
    const addedIds = new Set(added.map((a) => a.id));
    const types = tokens.map((_, id) => (special.has(id) ? TOKEN_TYPE.control : addedIds.has(id) ? TOKEN_TYPE.userDefined : TOKEN_TYPE.normal));
    const mergeStrings = merges.map((m) => (typeof m === 'string' ? m : Array.isArray(m) ? m.join(' ') : String(m)));
    const processor = (tok as { post_processor?: { type?: string; single?: unknown[] } }).post_processor;
    const addsBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token
      : processor?.type === 'TemplateProcessing' && Array.isArray(processor.single) && 'SpecialToken' in (processor.single[0] as object);
    return [
      ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
      ['tokenizer.ggml.pre', { type: 'string', value: byteLevelPre }],
      ['tokenizer.ggml.tokens', { type: 'string[]', value: tokens }],
      ['tokenizer.ggml.token_type', { type: 'i32[]', value: types }],
      ['tokenizer.ggml.merges', { type: 'string[]', value: mergeStrings }],
      ...specialTokenIds(config, tokens, addsBos, chatTemplate),
    ];
  }
  const size = tokens.length;
  const scores = new Float32Array(size);
  merges.forEach((m, k) => {
    const [a, b] = typeof m === 'string' ? m.split(' ') : Array.isArray(m) ? m : [];
    const id = vocab.get(`${String(a)}${String(b)}`);
    if (typeof id === 'number' && scores[id] === 0) scores[id] = -(k + 1);
  });
  const unk = typeof model.unk_token === 'string' ? (vocab.get(model.unk_token) as number | undefined) ?? null : null;
  const types = tokens.map((t, id) =>
    id === unk ? TOKEN_TYPE.unknown : special.has(id) ? TOKEN_TYPE.control : /^<0x[0-9A-F]{2}>$/.test(t) ? TOKEN_TYPE.byte : TOKEN_TYPE.normal);

  return [
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: tokens }],
    ['tokenizer.ggml.scores', { type: 'f32[]', value: scores }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: types }],
    ...specialTokenIds(config, tokens, typeof config.add_bos_token === 'boolean' ? config.add_bos_token : null, chatTemplate),
  ];
}

/** The special tokens' ids and whether BOS/EOS are added, from tokenizer_config.json, and the folder's chat template. */
function specialTokenIds(config: Record<string, unknown>, tokens: readonly string[], addBos: boolean | null, chatTemplate: string | null): [string, GgufValue][] {
  const idOf = (field: string): number | null => {
    const v = config[field];
    const name = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as { content?: unknown }).content : null;
    return typeof name === 'string' ? tokens.indexOf(name) : null;
  };
  const out: [string, GgufValue][] = [];
  for (const [key, field] of [['bos_token_id', 'bos_token'], ['eos_token_id', 'eos_token'], ['unknown_token_id', 'unk_token'], ['padding_token_id', 'pad_token']] as const) {
    const id = idOf(field);
    if (id !== null && id >= 0) out.push([`tokenizer.ggml.${key}`, { type: 'u32', value: id }]);
  }
  if (addBos !== null) out.push(['tokenizer.ggml.add_bos_token', { type: 'bool', value: addBos }]);
  if (typeof config.add_eos_token === 'boolean') out.push(['tokenizer.ggml.add_eos_token', { type: 'bool', value: config.add_eos_token }]);
  if (chatTemplate !== null) out.push(['tokenizer.chat_template', { type: 'string', value: chatTemplate }]);
  return out;
}

/**
 * The llama.cpp name of a byte-level pre-tokenizer: a Split by one of the patterns it knows, then
 * ByteLevel without its own regex (as Llama 3's and Qwen's tokenizer.json have it); null otherwise.
 */
function byteLevelPreName(pre: unknown): string | null {
  const p = pre as { type?: string; pretokenizers?: { type?: string; pattern?: { Regex?: string }; use_regex?: boolean }[] } | null;
  if (p?.type !== 'Sequence' || p.pretokenizers?.length !== 2) return null;
  const [split, byteLevel] = p.pretokenizers;
  if (split?.type !== 'Split' || byteLevel?.type !== 'ByteLevel' || byteLevel.use_regex !== false) return null;
  return Object.entries(BYTE_LEVEL_PRE_TOKENIZERS).find(([, v]) => v.pattern === split.pattern?.Regex)?.[0] ?? null;
}

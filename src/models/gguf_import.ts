// A GGUF file as --model: llama.cpp's file becomes a model folder the rest of giftjs reads like any
// other -- config.json and the tokenizer files derived from its metadata, and gguf_source.json
// pointing at the file for the weights (io/gguf_weights.ts), so no tensor is copied. The folder is
// made once per file (its path and header) under the giftjs cache ($GIFTJS_CACHE, default
// ~/.cache/giftjs/gguf/), atomically. The family that reads a GGUF architecture says how its keys
// and tensors map (ModelFamily.fromGguf: models/llama/gguf.ts for "llama").
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { writeFileAtomic, writeFolderAtomic } from '../io/atomic.js';
import { fileExists } from '../io/files.js';
import { GgufFile, preview } from '../io/gguf_reader.js';
import { describeFrozenBlocks, GGUF_SOURCE_FILE, isBlockDtype, STORED_BLOCK_FORMATS, type GgufSourceDescriptor, type GgufTensorSource } from '../io/gguf_weights.js';
import { sentencePieceTokenizerJson } from '../io/sentencepiece_json.js';
import { BYTE_LEVEL_PRE_TOKENIZERS, byteLevelTokenizerJson } from '../io/byte_level_bpe_json.js';
import { modelFamilies } from './registry.js';
import { GiftjsError } from '../errors.js';

/** What a family makes of a GGUF file: a config.json object and each parameter's tensor. */
export interface GgufImport {
  config: Record<string, unknown>;
  tensors: Record<string, GgufTensorSource>;
}

export function giftjsCacheDir(): string {
  return process.env.GIFTJS_CACHE || join(homedir(), '.cache', 'giftjs');
}

/** The model folder for a .gguf file (made now, or found from an earlier run), and what to tell the user. */
export function ggufModelFolder(path: string): { dir: string; note: string } {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new GiftjsError(`--model ${path}: no such file`);
  }
  const file = GgufFile.open(real);
  try {
    // One folder per file and header: what the folder holds comes from the header alone.
    const header = file.headerDigest();
    const key = createHash('sha256').update(`${real}\n${header}`).digest('hex').slice(0, 16);
    const dir = join(giftjsCacheDir(), 'gguf', `${basename(path).replace(/\.gguf$/i, '').replace(/[^A-Za-z0-9._-]/g, '_')}-${key}`);
    const types = [...new Set([...file.tensors.values()].map((t) => t.typeName))].sort();
    const note = `${path}: GGUF (${types.join(', ')}) read through ${dir}${describeBlockHolding(types)}`;
    if (fileExists(join(dir, GGUF_SOURCE_FILE))) return { dir, note };
    const arch = file.string('general.architecture');
    const importers = modelFamilies().flatMap((f) => Object.entries(f.fromGguf ?? {}));
    const importer = importers.find(([a]) => a === arch)?.[1];
    if (!importer) throw new GiftjsError(`${path}: GGUF architecture ${preview(arch)} is not supported (supported: ${importers.map(([a]) => a).join(', ')})`);
    assertBlocksHeld(file, arch!);
    const imported = importer(file);
    const tokenizer = ggufTokenizerFiles(file);
    const descriptor: GgufSourceDescriptor = { path: real, header, tensors: imported.tensors };
    const json = (v: unknown) => [`${JSON.stringify(v, null, 2)}\n`];
    writeFolderAtomic(dir, (tmp) => {
      writeFileAtomic(join(tmp, 'config.json'), json(imported.config));
      writeFileAtomic(join(tmp, 'generation_config.json'), json({ bos_token_id: imported.config.bos_token_id ?? null, eos_token_id: imported.config.eos_token_id ?? null }));
      if (tokenizer) {
        writeFileAtomic(join(tmp, 'tokenizer.json'), [JSON.stringify(tokenizer.tokenizer)]);
        writeFileAtomic(join(tmp, 'tokenizer_config.json'), json(tokenizer.config));
      }
      writeFileAtomic(join(tmp, GGUF_SOURCE_FILE), json(descriptor));
    });
    return { dir, note };
  } finally {
    file.close();
  }
}

/**
 * The header's block count against the blocks its tensor table holds (blk.0 ... blk.N-1): every
 * importer loops over the blocks, and a count the file does not hold (a corrupt or hostile header:
 * 134,217,730 blocks, met by the fuzzer) had it build a map of that many layers' tensors for minutes,
 * its memory growing, before any tensor was looked for.
 */
function assertBlocksHeld(file: GgufFile, arch: string): void {
  const key = `${arch}.block_count`;
  const declared = file.number(key);
  const held = new Set<number>();
  for (const name of file.tensors.keys()) {
    const block = /^blk\.(\d+)\./.exec(name);
    if (block) held.add(Number(block[1]));
  }
  const numbered = [...held].every((i) => i < held.size);
  if (declared === held.size && numbered) return;
  throw new GiftjsError(`${file.path}: ${key} is ${declared}, but the tensor table holds ${held.size} blocks${numbered ? '' : ' not numbered blk.0 on'}: the header does not describe this file`);
}

/** How the file's quantized types are held once loaded (models/load_state_dict.ts keepBlocks), for the note. */
function describeBlockHolding(types: string[]): string {
  const frozen = describeFrozenBlocks(types);
  if (frozen === null) return '';
  const rounded = types.some((t) => isBlockDtype(t) && !Object.hasOwn(STORED_BLOCK_FORMATS, t));
  return `; frozen matrices: ${frozen}${rounded ? " (rounded: relative error up to 2^-11; bfloat16 for a matrix past float16's range)" : ''}; trained or merged ones dequantized to float32`;
}

/**
 * A byte-level BPE ("gpt2": Llama 3, Qwen) vocabulary: tokens, merges and the split pattern named by
 * tokenizer.ggml.pre (io/byte_level_bpe_json.ts); control tokens become special added tokens.
 */
function byteLevelTokenizerFiles(file: GgufFile): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const pre = file.string('tokenizer.ggml.pre') ?? 'default';
  if (!Object.hasOwn(BYTE_LEVEL_PRE_TOKENIZERS, pre)) {
    throw new GiftjsError(`${file.path}: tokenizer.ggml.pre ${preview(pre)} is not supported (the byte-level split patterns giftjs knows: ${Object.keys(BYTE_LEVEL_PRE_TOKENIZERS).join(', ')})`);
  }
  const tokens = file.array('tokenizer.ggml.tokens');
  const merges = file.array('tokenizer.ggml.merges');
  const types = file.array('tokenizer.ggml.token_type');
  if (!tokens || tokens.some((t) => typeof t !== 'string')) throw new GiftjsError(`${file.path}: tokenizer.ggml.tokens must be a list of strings`);
  if (!merges || merges.some((m) => typeof m !== 'string' || m.split(' ').length !== 2)) throw new GiftjsError(`${file.path}: tokenizer.ggml.merges must be a list of "a b" pairs`);
  if (types && types.length !== tokens.length) throw new GiftjsError(`${file.path}: tokenizer.ggml.token_type lists ${types.length} types for ${tokens.length} tokens`);
  const added = (types ?? []).flatMap((t, id) => (t === TOKEN_TYPE.control ? [{ id, special: true }] : t === TOKEN_TYPE.userDefined ? [{ id, special: false }] : []));
  const pieces = tokens as string[];
  const idKey = (k: string) => (file.metadata.has(`tokenizer.ggml.${k}`) ? file.number(`tokenizer.ggml.${k}`) : null);
  const pieceOf = (id: number | null) => (id !== null && id >= 0 && id < pieces.length ? pieces[id]! : null);
  const bos = pieceOf(idKey('bos_token_id'));
  const addBos = file.metadata.get('tokenizer.ggml.add_bos_token') === true;
  const tokenizer = byteLevelTokenizerJson({ tokens: pieces, merges: merges as string[], pre, added, bos: addBos ? bos : null });
  const config: Record<string, unknown> = {
    tokenizer_class: 'PreTrainedTokenizerFast', add_bos_token: addBos, add_eos_token: false,
    bos_token: bos, eos_token: pieceOf(idKey('eos_token_id')), pad_token: pieceOf(idKey('padding_token_id')), clean_up_tokenization_spaces: false,
  };
  const template = file.string('tokenizer.chat_template');
  if (template !== null) config.chat_template = template;
  return { tokenizer, config };
}

/** llama.cpp's token types. */
const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 };

/**
 * tokenizer.json and tokenizer_config.json from the tokenizer.ggml.* keys: a SentencePiece ("llama")
 * vocabulary as transformers' LlamaConverter builds it. Byte-level BPE ("gpt2": Llama 3, Qwen) is
 * refused by name for now; a file without a vocabulary gets no tokenizer.
 */
function ggufTokenizerFiles(file: GgufFile): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } | null {
  const model = file.string('tokenizer.ggml.model');
  if (model === null) return null;
  if (model === 'gpt2') return byteLevelTokenizerFiles(file);
  if (model !== 'llama') throw new GiftjsError(`${file.path}: tokenizer.ggml.model ${preview(model)} is not supported (the SentencePiece 'llama' and byte-level BPE 'gpt2' vocabularies are)`);
  const tokens = file.array('tokenizer.ggml.tokens');
  const scores = file.array('tokenizer.ggml.scores');
  const types = file.array('tokenizer.ggml.token_type');
  if (!tokens || !scores || tokens.length !== scores.length || tokens.some((t) => typeof t !== 'string') || scores.some((s) => typeof s !== 'number')) {
    throw new GiftjsError(`${file.path}: tokenizer.ggml.tokens and tokenizer.ggml.scores must be lists of the same length (strings, numbers)`);
  }
  if (types && types.length !== tokens.length) throw new GiftjsError(`${file.path}: tokenizer.ggml.token_type lists ${types.length} types for ${tokens.length} tokens`);
  const typeOf = (id: number) => (types ? Number(types[id]) : TOKEN_TYPE.normal);
  const odd = types?.findIndex((t) => t === TOKEN_TYPE.userDefined) ?? -1;
  if (odd >= 0) throw new GiftjsError(`${file.path}: token ${odd} (${preview(tokens[odd])}) is user-defined; user-defined tokens are not supported yet`);
  const pieces = tokens as string[];
  const idKey = (k: string) => (file.metadata.has(`tokenizer.ggml.${k}`) ? file.number(`tokenizer.ggml.${k}`) : null);
  const pieceOf = (id: number | null) => (id !== null && id >= 0 && id < pieces.length ? pieces[id]! : null);
  const unk = pieceOf(idKey('unknown_token_id')) ?? (pieces.includes('<unk>') ? '<unk>' : null);
  const bos = pieceOf(idKey('bos_token_id'));
  const eos = pieceOf(idKey('eos_token_id'));
  const addBos = file.metadata.get('tokenizer.ggml.add_bos_token') ?? true;
  const tokenizer = sentencePieceTokenizerJson({
    pieces, scores: scores as number[], unk, bos: addBos === true ? bos : null,
    special: (id) => typeOf(id) === TOKEN_TYPE.control || typeOf(id) === TOKEN_TYPE.unknown || typeOf(id) === TOKEN_TYPE.unused,
  });
  const config: Record<string, unknown> = {
    tokenizer_class: 'LlamaTokenizerFast', add_bos_token: addBos === true, add_eos_token: file.metadata.get('tokenizer.ggml.add_eos_token') === true,
    bos_token: bos, eos_token: eos, unk_token: unk, pad_token: pieceOf(idKey('padding_token_id')), clean_up_tokenization_spaces: false, legacy: true,
  };
  const template = file.string('tokenizer.chat_template');
  if (template !== null) config.chat_template = template;
  return { tokenizer, config };
}

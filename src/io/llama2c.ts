// llama2.c checkpoints (Karpathy's "v0" format) and tokenizers, converted to Hugging Face folders.
//
// Checkpoint: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a
// negative vocab_size means an unshared classifier follows), then float32 tensors in a fixed order.
// Tokenizer: int32 max token length, then per token (float32 score, int32 length, bytes).
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic, writeFolderAtomic } from './atomic.js';
import { deferredSafetensorsChunks, type DeferredSafetensorsRaw } from './safetensors.js';
import { GiftjsError } from '../errors.js';
import { availableMemory, gb, type AvailableMemory } from './system_memory.js';
import { sentencePieceTokenizerJson } from './sentencepiece_json.js';

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  seqLen: number;
  sharedClassifier: boolean;
}

/**
 * Meta's RoPE rotates interleaved pairs (2i, 2i+1) of each head; Hugging Face's rotates halves
 * (i, i + d/2). Reordering each head's rows of wq and wk from the first layout to the second
 * makes the two compute the same thing (transformers' convert_llama_weights_to_hf permute). A row
 * is `cols` elements of any array: float values, or a quantized matrix's code bytes or scales.
 */
export function permuteForRotateHalf<T extends Float32Array | Uint8Array | Uint16Array>(w: T, heads: number, rows: number, cols: number): T {
  const headDim = rows / heads;
  const half = headDim / 2;
  const out = new (w.constructor as new (n: number) => T)(w.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (const parity of [0, 1]) {
        const src = h * headDim + 2 * i + parity;
        const dst = h * headDim + parity * half + i;
        out.set(w.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}

/** One tensor of a llama2.c checkpoint: its Hugging Face name and shape, where its float32 values lie. */
export interface Llama2cTensor {
  name: string;
  shape: number[];
  /** Byte offset of its values in the file. */
  offset: number;
  /** wq and wk: the heads whose rows are reordered for rotate-half RoPE (permuteForRotateHalf). */
  rotateHeads?: number;
}

/**
 * A llama2.c checkpoint's header, its config.json object and where each tensor lies, from its first
 * 28 bytes and its size (a file too short for the tensors its header names is refused here).
 */
export function readLlama2cLayout(path: string): { header: Llama2cHeader; config: Record<string, unknown>; tensors: Llama2cTensor[] } {
  const fd = openSync(path, 'r');
  let size: number;
  const head = Buffer.alloc(28);
  try {
    size = fstatSync(fd).size;
    if (size < 28 || readSync(fd, head, 0, 28, 0) !== 28) throw new GiftjsError(`${path}: too short for a llama2.c header`);
  } finally {
    closeSync(fd);
  }
  const v = Array.from({ length: 7 }, (_, i) => head.readInt32LE(i * 4));
  const [dim, hiddenDim, layers, heads, kvHeads, vocabSigned, seqLen] = v as [number, number, number, number, number, number, number];
  const h: Llama2cHeader = { dim, hiddenDim, layers, heads, kvHeads, vocab: Math.abs(vocabSigned), seqLen, sharedClassifier: vocabSigned > 0 };
  if ([dim, hiddenDim, layers, heads, kvHeads, h.vocab, seqLen].some((x) => !(x > 0)) || dim % heads !== 0 || heads % kvHeads !== 0) {
    throw new GiftjsError(`${path}: header [${v.join(', ')}] is not a llama2.c v0 header (dim, hidden, layers, heads, kv heads, vocab, seq len)`);
  }
  const headDim = dim / heads;
  const kvDim = kvHeads * headDim;
  // The file holds each kind of tensor for every layer in turn (all layers' wq, then all wk, ...).
  let offset = 28;
  const take = (count: number, what: string): number => {
    const at = offset;
    offset += count * 4;
    if (offset > size) throw new GiftjsError(`${path}: file ends inside ${what} (need ${offset} bytes, have ${size})`);
    return at;
  };
  const perLayer = (count: number, what: string): number[] => {
    const at = take(layers * count, what);
    return Array.from({ length: layers }, (_, l) => at + l * count * 4);
  };
  const emb = take(h.vocab * dim, 'token_embedding');
  const attnNorm = perLayer(dim, 'rms_att_weight');
  const wq = perLayer(dim * dim, 'wq');
  const wk = perLayer(kvDim * dim, 'wk');
  const wv = perLayer(kvDim * dim, 'wv');
  const wo = perLayer(dim * dim, 'wo');
  const ffnNorm = perLayer(dim, 'rms_ffn_weight');
  const w1 = perLayer(hiddenDim * dim, 'w1');
  const w2 = perLayer(dim * hiddenDim, 'w2');
  const w3 = perLayer(hiddenDim * dim, 'w3');
  const finalNorm = take(dim, 'rms_final_weight');
  offset += seqLen * headDim * 4; // freq_cis_real and freq_cis_imag (recomputed from rope_theta)
  const wcls = h.sharedClassifier ? null : take(h.vocab * dim, 'wcls');

  const tensors: Llama2cTensor[] = [{ name: 'model.embed_tokens.weight', shape: [h.vocab, dim], offset: emb }];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    tensors.push(
      { name: `${p}input_layernorm.weight`, shape: [dim], offset: attnNorm[l]! },
      { name: `${p}self_attn.q_proj.weight`, shape: [dim, dim], offset: wq[l]!, rotateHeads: heads },
      { name: `${p}self_attn.k_proj.weight`, shape: [kvDim, dim], offset: wk[l]!, rotateHeads: kvHeads },
      { name: `${p}self_attn.v_proj.weight`, shape: [kvDim, dim], offset: wv[l]! },
      { name: `${p}self_attn.o_proj.weight`, shape: [dim, dim], offset: wo[l]! },
      { name: `${p}post_attention_layernorm.weight`, shape: [dim], offset: ffnNorm[l]! },
      { name: `${p}mlp.gate_proj.weight`, shape: [hiddenDim, dim], offset: w1[l]! },
      { name: `${p}mlp.down_proj.weight`, shape: [dim, hiddenDim], offset: w2[l]! },
      { name: `${p}mlp.up_proj.weight`, shape: [hiddenDim, dim], offset: w3[l]! },
    );
  }
  tensors.push({ name: 'model.norm.weight', shape: [dim], offset: finalNorm });
  if (wcls !== null) tensors.push({ name: 'lm_head.weight', shape: [h.vocab, dim], offset: wcls });
  const config = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: h.vocab, hidden_size: dim, intermediate_size: hiddenDim,
    num_hidden_layers: layers, num_attention_heads: heads, num_key_value_heads: kvHeads, max_position_embeddings: seqLen,
    rms_norm_eps: 1e-5, rope_theta: 10000.0, hidden_act: 'silu', tie_word_embeddings: h.sharedClassifier,
    bos_token_id: 1, eos_token_id: 2, torch_dtype: 'float32',
  };
  return { header: h, config, tensors };
}

/** One tensor's values as Hugging Face holds them (wq and wk reordered for rotate-half RoPE). */
function readLlama2cTensor(path: string, fd: number, t: Llama2cTensor): Float32Array {
  const [rows, cols = 1] = t.shape as [number, number?];
  const values = new Float32Array(rows * cols);
  const bytes = new Uint8Array(values.buffer);
  // (One read returns at most 2 GB; the layout checked that the file holds every byte.)
  for (let done = 0; done < bytes.length; ) {
    const n = readSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30), t.offset + done);
    if (n === 0) throw new GiftjsError(`${path}: the file ended inside ${t.name} while it was read (was it changed?)`);
    done += n;
  }
  return t.rotateHeads ? permuteForRotateHalf(values, t.rotateHeads, rows, cols) : values;
}

/** Reads a llama2.c checkpoint into Hugging Face tensor names and a config.json object. */
export function readLlama2cCheckpoint(path: string): { header: Llama2cHeader; config: Record<string, unknown>; tensors: Map<string, Tensor> } {
  const { header, config, tensors: layout } = readLlama2cLayout(path);
  const fd = openSync(path, 'r');
  try {
    const tensors = new Map<string, Tensor>();
    for (const t of layout) tensors.set(t.name, Tensor.fromArray(readLlama2cTensor(path, fd, t), t.shape).keep());
    return { header, config, tensors };
  } finally {
    closeSync(fd);
  }
}

/**
 * The conversion reads and writes one tensor at a time: it holds the largest tensor's values and,
 * for wq and wk, their reordered copy. (It had read the whole checkpoint first, about twice the
 * file: a llama2.c export of Llama 2 7B is 27 GB, refused on a machine of 24.)
 */
function assertConversionFits(modelPath: string, tensors: readonly Llama2cTensor[], budget: AvailableMemory): void {
  const bytesOf = (t: Llama2cTensor) => t.shape.reduce((a, b) => a * b, 1) * 4 * (t.rotateHeads ? 2 : 1);
  const largest = tensors.reduce((a, b) => (bytesOf(b) > bytesOf(a) ? b : a));
  const inUse = process.memoryUsage().rss;
  const need = bytesOf(largest);
  if (need + inUse <= budget.bytes) return;
  throw new GiftjsError(`${modelPath}: converting this llama2.c checkpoint holds one tensor at a time, the largest (${largest.name}) about ${gb(need)}${largest.rotateHeads ? ' with its reordered copy' : ''}, and this process may use ${gb(budget.bytes)} (${budget.source}), ${gb(inUse)} of it in use; nothing was read. Convert it on a machine with more memory`);
}

export interface Llama2cTokenizer {
  maxTokenLength: number;
  /** Pieces as llama2.c stores them: ' ' where SentencePiece writes '▁'. */
  pieces: { text: string; score: number }[];
}

export function readLlama2cTokenizer(path: string, vocabSize: number): Llama2cTokenizer {
  const buf = readFileSync(path);
  let off = 0;
  const need = (n: number, what: string) => {
    if (off + n > buf.length) throw new GiftjsError(`${path}: file ends inside ${what} (byte ${off} of ${buf.length})`);
  };
  need(4, 'the header');
  const maxTokenLength = buf.readInt32LE(0);
  off = 4;
  const pieces: { text: string; score: number }[] = [];
  for (let i = 0; i < vocabSize; i++) {
    need(8, `token ${i}`);
    const score = buf.readFloatLE(off);
    const len = buf.readInt32LE(off + 4);
    if (len < 0 || len > 1024) throw new GiftjsError(`${path}: token ${i} has length ${len} (a piece is 0 to 1024 bytes): not a llama2.c tokenizer`);
    off += 8;
    need(len, `token ${i}`);
    pieces.push({ text: buf.toString('utf8', off, off + len), score });
    off += len;
  }
  if (off !== buf.length) {
    // More pieces than the model has embedding rows: the tokenizer belongs to another model.
    throw new GiftjsError(`${path}: ${buf.length - off} bytes follow the model's ${vocabSize} tokens; this tokenizer has a larger vocabulary than the model (use the tokenizer made with this checkpoint)`);
  }
  return { maxTokenLength, pieces };
}

const SPECIALS = ['<unk>', '<s>', '</s>'];

/** The SentencePiece piece of a llama2.c token (specials and byte tokens keep their names). */
function spPiece(i: number, text: string): string {
  if (i < 3) return SPECIALS[i]!;
  return /^<0x[0-9A-F]{2}>$/.test(text) ? text : text.replace(/ /g, '\u2581');
}

/** A Hugging Face tokenizer.json equivalent to the SentencePiece model behind a llama2.c tokenizer. */
export function llama2cTokenizerJson(tok: Llama2cTokenizer): Record<string, unknown> {
  const pieces = tok.pieces.map((p, i) => spPiece(i, p.text));
  return sentencePieceTokenizerJson({ pieces, scores: tok.pieces.map((p) => p.score), special: (id) => id < 3, unk: '<unk>', bos: '<s>' });
}

export function llama2cTokenizerConfig(maxLength: number): Record<string, unknown> {
  return {
    tokenizer_class: 'LlamaTokenizerFast', add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>',
    unk_token: '<unk>', pad_token: null, model_max_length: maxLength, clean_up_tokenization_spaces: false, legacy: true,
  };
}

/**
 * Converts a llama2.c model (and optionally its tokenizer) into a Hugging Face folder, atomically,
 * one tensor at a time: past the budget the largest tensor is refused before anything is read.
 */
export function convertLlama2c(modelPath: string, tokenizerPath: string | null, outDir: string, budget: AvailableMemory = availableMemory()): { config: Record<string, unknown> } {
  const { config, tensors, header } = readLlama2cLayout(modelPath);
  assertConversionFits(modelPath, tensors, budget);
  const tok = tokenizerPath ? readLlama2cTokenizer(tokenizerPath, header.vocab) : null;
  const fd = openSync(modelPath, 'r');
  try {
    const entries: Record<string, DeferredSafetensorsRaw> = {};
    for (const t of tensors) {
      entries[t.name] = { dtype: 'F32', shape: t.shape, bytes: () => new Uint8Array(readLlama2cTensor(modelPath, fd, t).buffer) };
    }
    writeFolderAtomic(outDir, (tmp) => {
      writeFileAtomic(join(tmp, 'config.json'), [`${JSON.stringify(config, null, 2)}\n`]);
      writeFileAtomic(join(tmp, 'generation_config.json'), [`${JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }, null, 2)}\n`]);
      writeFileAtomic(join(tmp, 'model.safetensors'), deferredSafetensorsChunks(entries, { format: 'pt' }));
      if (tok) {
        writeFileAtomic(join(tmp, 'tokenizer.json'), [JSON.stringify(llama2cTokenizerJson(tok))]);
        writeFileAtomic(join(tmp, 'tokenizer_config.json'), [`${JSON.stringify(llama2cTokenizerConfig(header.seqLen), null, 2)}\n`]);
      }
    });
  } finally {
    closeSync(fd);
  }
  return { config };
}

// llama2.c checkpoints (Karpathy's "v0" format) and tokenizers, converted to Hugging Face folders.
//
// Checkpoint: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a
// negative vocab_size means an unshared classifier follows), then float32 tensors in a fixed order.
// Tokenizer: int32 max token length, then per token (float32 score, int32 length, bytes).
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic, writeFolderAtomic } from './atomic.js';
import { saveSafetensors } from './safetensors.js';
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

/** Reads a llama2.c checkpoint into Hugging Face tensor names and a config.json object. */
export function readLlama2cCheckpoint(path: string): { header: Llama2cHeader; config: Record<string, unknown>; tensors: Map<string, Tensor> } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(28);
    if (size < 28 || readSync(fd, head, 0, 28, 0) !== 28) throw new GiftjsError(`${path}: too short for a llama2.c header`);
    const v = Array.from({ length: 7 }, (_, i) => head.readInt32LE(i * 4));
    const [dim, hiddenDim, layers, heads, kvHeads, vocabSigned, seqLen] = v as [number, number, number, number, number, number, number];
    const h: Llama2cHeader = { dim, hiddenDim, layers, heads, kvHeads, vocab: Math.abs(vocabSigned), seqLen, sharedClassifier: vocabSigned > 0 };
    if ([dim, hiddenDim, layers, heads, kvHeads, h.vocab, seqLen].some((x) => !(x > 0)) || dim % heads !== 0 || heads % kvHeads !== 0) {
      throw new GiftjsError(`${path}: header [${v.join(', ')}] is not a llama2.c v0 header (dim, hidden, layers, heads, kv heads, vocab, seq len)`);
    }
    const headDim = dim / heads;
    const kvDim = kvHeads * headDim;
    let offset = 28;
    const read = (count: number, what: string): Float32Array => {
      const bytes = count * 4;
      if (offset + bytes > size) throw new GiftjsError(`${path}: file ends inside ${what} (need ${offset + bytes} bytes, have ${size})`);
      const out = new Float32Array(count);
      readSync(fd, new Uint8Array(out.buffer), 0, bytes, offset);
      offset += bytes;
      return out;
    };
    const perLayer = (count: number, what: string) => {
      const all = read(layers * count, what);
      return Array.from({ length: layers }, (_, l) => all.subarray(l * count, (l + 1) * count));
    };
    const emb = read(h.vocab * dim, 'token_embedding');
    const attnNorm = perLayer(dim, 'rms_att_weight');
    const wq = perLayer(dim * dim, 'wq');
    const wk = perLayer(kvDim * dim, 'wk');
    const wv = perLayer(kvDim * dim, 'wv');
    const wo = perLayer(dim * dim, 'wo');
    const ffnNorm = perLayer(dim, 'rms_ffn_weight');
    const w1 = perLayer(hiddenDim * dim, 'w1');
    const w2 = perLayer(dim * hiddenDim, 'w2');
    const w3 = perLayer(hiddenDim * dim, 'w3');
    const finalNorm = read(dim, 'rms_final_weight');
    offset += seqLen * headDim * 4; // freq_cis_real and freq_cis_imag (recomputed from rope_theta)
    const wcls = h.sharedClassifier ? null : read(h.vocab * dim, 'wcls');

    const tensors = new Map<string, Tensor>();
    const put = (name: string, data: Float32Array, shape: number[]) => tensors.set(name, Tensor.fromArray(data, shape).keep());
    put('model.embed_tokens.weight', emb, [h.vocab, dim]);
    for (let l = 0; l < layers; l++) {
      const p = `model.layers.${l}.`;
      put(`${p}input_layernorm.weight`, attnNorm[l]!, [dim]);
      put(`${p}self_attn.q_proj.weight`, permuteForRotateHalf(wq[l]!, heads, dim, dim), [dim, dim]);
      put(`${p}self_attn.k_proj.weight`, permuteForRotateHalf(wk[l]!, kvHeads, kvDim, dim), [kvDim, dim]);
      put(`${p}self_attn.v_proj.weight`, wv[l]!, [kvDim, dim]);
      put(`${p}self_attn.o_proj.weight`, wo[l]!, [dim, dim]);
      put(`${p}post_attention_layernorm.weight`, ffnNorm[l]!, [dim]);
      put(`${p}mlp.gate_proj.weight`, w1[l]!, [hiddenDim, dim]);
      put(`${p}mlp.down_proj.weight`, w2[l]!, [dim, hiddenDim]);
      put(`${p}mlp.up_proj.weight`, w3[l]!, [hiddenDim, dim]);
    }
    put('model.norm.weight', finalNorm, [dim]);
    if (wcls) put('lm_head.weight', wcls, [h.vocab, dim]);
    const config = {
      architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: h.vocab, hidden_size: dim, intermediate_size: hiddenDim,
      num_hidden_layers: layers, num_attention_heads: heads, num_key_value_heads: kvHeads, max_position_embeddings: seqLen,
      rms_norm_eps: 1e-5, rope_theta: 10000.0, hidden_act: 'silu', tie_word_embeddings: h.sharedClassifier,
      bos_token_id: 1, eos_token_id: 2, torch_dtype: 'float32',
    };
    return { header: h, config, tensors };
  } finally {
    closeSync(fd);
  }
}

/**
 * The conversion holds the checkpoint's values as read and the tensors made of them (a copy where the
 * backend's memory is its own): about twice the file (a 542 MB checkpoint peaked at 1,137 MB resident).
 * A llama2.c export of Llama 2 7B is 27 GB; it had been read until the kernel killed the process.
 */
function assertConversionFits(modelPath: string, budget: AvailableMemory): void {
  let size: number;
  try {
    size = statSync(modelPath).size;
  } catch {
    return; // a missing file is named by the reader
  }
  const inUse = process.memoryUsage().rss;
  const need = 2 * size;
  if (need + inUse <= budget.bytes) return;
  throw new GiftjsError(`${modelPath}: converting this ${gb(size)} llama2.c checkpoint holds about ${gb(need)} (its values as read and their tensors), and this process may use ${gb(budget.bytes)} (${budget.source}), ${gb(inUse)} of it in use; nothing was read. Convert it on a machine with more memory`);
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
 * Converts a llama2.c model (and optionally its tokenizer) into a Hugging Face folder, atomically.
 * The whole checkpoint is read into memory first: past the budget it is refused before reading.
 */
export function convertLlama2c(modelPath: string, tokenizerPath: string | null, outDir: string, budget: AvailableMemory = availableMemory()): { config: Record<string, unknown> } {
  assertConversionFits(modelPath, budget);
  const { config, tensors, header } = readLlama2cCheckpoint(modelPath);
  const tok = tokenizerPath ? readLlama2cTokenizer(tokenizerPath, header.vocab) : null;
  writeFolderAtomic(outDir, (tmp) => {
    writeFileAtomic(join(tmp, 'config.json'), [`${JSON.stringify(config, null, 2)}\n`]);
    writeFileAtomic(join(tmp, 'generation_config.json'), [`${JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }, null, 2)}\n`]);
    saveSafetensors(join(tmp, 'model.safetensors'), Object.fromEntries(tensors), { format: 'pt' });
    if (tok) {
      writeFileAtomic(join(tmp, 'tokenizer.json'), [JSON.stringify(llama2cTokenizerJson(tok))]);
      writeFileAtomic(join(tmp, 'tokenizer_config.json'), [`${JSON.stringify(llama2cTokenizerConfig(header.seqLen), null, 2)}\n`]);
    }
  });
  for (const t of tensors.values()) t.dispose();
  return { config };
}

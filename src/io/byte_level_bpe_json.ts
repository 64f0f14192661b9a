// A byte-level BPE vocabulary (GPT-2's kind: Llama 3, Qwen; GGUF's "gpt2" tokenizer) as the Hugging Face
// tokenizer.json its model's own folder carries: the text split by the model's pattern, every byte
// mapped to a printable symbol, then the merges in order. The split pattern comes from GGUF's
// tokenizer.ggml.pre by name, as llama.cpp chooses it; a name not listed here is refused.

/** tokenizer.ggml.pre -> the split pattern (as the models' own tokenizer.json files write it) and whether the text is NFC-normalized first. */
export const BYTE_LEVEL_PRE_TOKENIZERS: Record<string, { pattern: string; nfc: boolean; ignoreMerges: boolean }> = {
  qwen2: {
    pattern: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    nfc: true,
    ignoreMerges: false,
  },
  'llama-bpe': {
    pattern: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    nfc: false,
    ignoreMerges: true,
  },
};

export interface ByteLevelVocab {
  tokens: readonly string[];
  /** "a b" pairs, highest priority first. */
  merges: readonly string[];
  pre: string;
  /** Tokens added beside the BPE model (control tokens and user-defined ones), by id. */
  added: { id: number; special: boolean }[];
  /** The BOS token the post-processor puts first, or null for none (Qwen). */
  bos: string | null;
}

export function byteLevelTokenizerJson(v: ByteLevelVocab): Record<string, unknown> {
  const pre = BYTE_LEVEL_PRE_TOKENIZERS[v.pre]!;
  const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
  v.tokens.forEach((t, i) => (vocab[t] = i));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const bosId = v.bos === null ? null : vocab[v.bos] ?? null;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: v.added.map(({ id, special }) => ({ id, content: v.tokens[id], single_word: false, lstrip: false, rstrip: false, normalized: !special, special })),
    normalizer: pre.nfc ? { type: 'NFC' } : null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: pre.pattern }, behavior: 'Isolated', invert: false }, byteLevel] },
    post_processor: bosId === null ? { ...byteLevel, trim_offsets: false } : {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: v.bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: v.bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: v.bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [v.bos!]: { id: v.bos, ids: [bosId], tokens: [v.bos] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: pre.ignoreMerges, vocab, merges: [...v.merges],
    },
  };
}

// A SentencePiece BPE vocabulary (pieces with scores, byte fallback: Llama 2's kind, as llama2.c and
// GGUF's "llama" tokenizer store it) as the Hugging Face tokenizer.json that transformers'
// LlamaConverter builds for it: merges from every split of a piece into two pieces, ranked by the
// merged piece's score; "▁" for spaces, prepended; byte tokens <0xNN> as the fallback.

export interface SentencePieceVocab {
  /** Every piece in id order ("▁" where text has a space; byte tokens as <0xNN>). */
  pieces: readonly string[];
  /** SentencePiece's scores: a higher score merges first. */
  scores: ArrayLike<number>;
  /** Control and unknown tokens: added as special tokens, never merged. */
  special: (id: number) => boolean;
  unk: string | null;
  /** The BOS piece the post-processor puts first, or null for none. */
  bos: string | null;
}

const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;

export function sentencePieceTokenizerJson(v: SentencePieceVocab): Record<string, unknown> {
  const { pieces } = v;
  // No prototype: a piece named __proto__ or constructor is an ordinary key.
  const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
  pieces.forEach((p, i) => (vocab[p] = i));
  const mergeable = (i: number) => !v.special(i) && !BYTE_PIECE.test(pieces[i]!);
  const order = pieces.map((_, i) => i).filter(mergeable).sort((a, b) => v.scores[b]! - v.scores[a]! || a - b);
  const merges: [string, string][] = [];
  for (const id of order) {
    const piece = [...pieces[id]!]; // split on code points, not UTF-16 units
    const local: [string, string][] = [];
    for (let k = 1; k < piece.length; k++) {
      const l = piece.slice(0, k).join('');
      const r = piece.slice(k).join('');
      if (l in vocab && r in vocab) local.push([l, r]);
    }
    local.sort((x, y) => vocab[x[0]]! - vocab[y[0]]! || vocab[x[1]]! - vocab[y[1]]!);
    merges.push(...local);
  }
  const added = pieces.flatMap((content, id) => (v.special(id) ? [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }] : []));
  const bosId = v.bos === null ? null : vocab[v.bos] ?? null;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
    pre_tokenizer: null,
    post_processor: bosId === null ? null : {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: v.bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: v.bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: v.bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [v.bos!]: { id: v.bos, ids: [bosId], tokens: [v.bos] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
    },
    model: {
      type: 'BPE', dropout: null, unk_token: v.unk, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: merges.map(([l, r]) => `${l} ${r}`),
    },
  };
}

// Text as tokens arrive, for printing or streaming it: each new piece is only what can no longer
// change. Decoding is not additive -- a partial UTF-8 sequence decodes to U+FFFD until it is whole,
// and the tokenizer's clean-up joins " !" into "!" or " n't" into "n't" once the next token comes --
// so, as transformers' TextStreamer does, text is released a word at a time: up to the last
// whitespace, the rest held back until more arrives or the generation ends.
import type { Tokenizer } from '../io/tokenizer.js';

export class TextStream {
  private readonly ids: number[] = [];
  private sent = '';

  constructor(private readonly tokenizer: Tokenizer) {}

  /** Adds a token; returns the text newly settled (often empty). */
  push(token: number): string {
    this.ids.push(token);
    const text = this.tokenizer.decode(this.ids);
    const settled = text.slice(0, lastWordEnd(text));
    if (settled.length <= this.sent.length || !settled.startsWith(this.sent)) return '';
    const piece = settled.slice(this.sent.length);
    this.sent = settled;
    return piece;
  }

  /** The rest, once no token will follow; with what push returned, it makes up decode(all tokens). */
  finish(): string {
    const text = this.tokenizer.decode(this.ids);
    // Released text that a later token changed (not seen with word-at-a-time release): nothing safe to add.
    if (!text.startsWith(this.sent)) return '';
    const piece = text.slice(this.sent.length);
    this.sent = text;
    return piece;
  }

  /** Every token so far, decoded. */
  text(): string {
    return this.tokenizer.decode(this.ids);
  }

  get tokens(): readonly number[] {
    return this.ids;
  }
}

/** Where the text before its last run of whitespace ends (0 when it has none). */
function lastWordEnd(text: string): number {
  const m = /\s+\S*$/.exec(text);
  return m ? m.index : 0;
}

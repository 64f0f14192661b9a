// Text as tokens arrive, for printing or streaming it: each new piece is only what can no longer
// change. Decoding is not additive -- a partial UTF-8 sequence decodes to U+FFFD until it is whole,
// and the tokenizer's clean-up joins " !" into "!" or " n't" into "n't" once the next token comes --
// so, as transformers' TextStreamer does, text is released a word at a time: up to the last
// whitespace, the rest held back until more arrives or the generation ends. With stop sequences, the
// text ends before the first one, and what could still become one is held back too (stop_sequences.ts).
import type { Tokenizer } from '../io/tokenizer.js';
import { firstStopAt, stopPrefixAtEnd } from './stop_sequences.js';
import { GiftjsError } from '../errors.js';

export class TextStream {
  private readonly ids: number[] = [];
  /** The decode of every token so far, uncut. */
  private whole = '';
  private sent = '';
  /** Where the text ends, at the first stop sequence; null until one appears. */
  private stopAt: number | null = null;

  constructor(private readonly tokenizer: Tokenizer, private readonly stops: readonly string[] = []) {
    if (stops.some((s) => s.length === 0)) throw new GiftjsError('TextStream: a stop sequence must not be empty (it would end the text before it begins)');
  }

  /** Adds a token; returns the text newly settled (often empty). */
  push(token: number): string {
    if (this.stopAt !== null) throw new GiftjsError('TextStream: the text has ended at a stop sequence; no token follows');
    this.ids.push(token);
    const text = (this.whole = this.tokenizer.decode(this.ids));
    const at = this.stops.length > 0 ? firstStopAt(text, this.stops) : -1;
    if (at >= 0) {
      // (Never before what was sent: its end was held back wherever a stop sequence could begin.)
      this.stopAt = Math.max(at, this.sent.length);
      return this.release(text.slice(0, this.stopAt));
    }
    const wordEnd = lastWordEnd(text);
    return this.release(text.slice(0, wordEnd - stopPrefixAtEnd(text.slice(0, wordEnd), this.stops)));
  }

  /** Every token so far, decoded, before any stop sequence cut it (the decode push made). */
  get decoded(): string {
    return this.whole;
  }

  /** How many characters of the text were given out so far (push's and finish's pieces together). */
  get releasedLength(): number {
    return this.sent.length;
  }

  /** True once the text holds a stop sequence: it ends before it, and the generation should stop. */
  get stopped(): boolean {
    return this.stopAt !== null;
  }

  /** The part of `settled` not sent yet, now sent. */
  private release(settled: string): string {
    if (settled.length <= this.sent.length || !settled.startsWith(this.sent)) return '';
    const piece = settled.slice(this.sent.length);
    this.sent = settled;
    return piece;
  }

  /** The rest, once no token will follow; with what push returned, it makes up text(). */
  finish(): string {
    if (this.stopAt !== null) return '';
    // Released text that a later token changed (not seen with word-at-a-time release): nothing safe to add.
    if (!this.whole.startsWith(this.sent)) return '';
    const piece = this.whole.slice(this.sent.length);
    this.sent = this.whole;
    return piece;
  }

  /** Every token so far, decoded; with a stop sequence, up to where it begins. */
  text(): string {
    return this.stopAt === null ? this.whole : this.whole.slice(0, this.stopAt);
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

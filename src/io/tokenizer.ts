// Tokenizers from Hugging Face files (tokenizer.json + tokenizer_config.json) through
// @huggingface/tokenizers, with chat templates rendered by @huggingface/jinja.
import { fileExists, readTextFile } from './files.js';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { checkTokenizerPatterns } from './regex_safety.js';
import { readJsonFile } from './hf_folder.js';
import { GiftjsError } from '../errors.js';
import { renderChatTemplate } from './chat_template.js';
import { namedSpecialTokens } from './special_tokens.js';

export interface ChatMessage {
  role: string;
  /** null in an assistant turn that only calls tools (OpenAI's form), as transformers takes it. */
  content: string | null;
  /** Further fields the template reads (tool_calls, tool_call_id, name, reasoning_content, ...). */
  [field: string]: unknown;
}

/**
 * Whether decoding joins " ," into "," and " n't" into "n't", as transformers 5 decides it: only where
 * tokenizer_config.json asks (a missing clean_up_tokenization_spaces is false there, where the
 * tokenizers library reads it as true), and never for a BPE model -- the clean-up was made for
 * WordPiece and strips real spaces from BPE text -- unless the file forces it with
 * clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output.
 */
function cleansUpSpaces(tokenizerJson: Record<string, unknown>, config: Record<string, unknown>, cfgPath: string): boolean {
  const flag = (key: string): boolean => {
    const v = config[key];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') throw new GiftjsError(`${cfgPath}: ${key} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const cleanUp = flag('clean_up_tokenization_spaces');
  const forceForBpe = flag('clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output');
  const modelType = (tokenizerJson.model as { type?: unknown } | undefined)?.type;
  return cleanUp && (modelType !== 'BPE' || forceForBpe);
}

/**
 * A folder's chat template as transformers 5 finds it: chat_template.jinja (where today's
 * save_pretrained writes it) before tokenizer_config.json's chat_template. Null where it has none.
 */
export function readChatTemplate(dir: string, config: Record<string, unknown>): string | null {
  return readTemplateFile(dir) ?? configChatTemplate(config, dir);
}

/** chat_template.jinja's text, or null where the folder has no such file. */
function readTemplateFile(dir: string): string | null {
  const file = join(dir, 'chat_template.jinja');
  return fileExists(file) ? readTextFile(file) : null;
}

/**
 * tokenizer_config.json's chat_template: a string, or a list of named templates of which "default"
 * is the one transformers applies (one without it is refused by name). Null where there is none.
 */
function configChatTemplate(config: Record<string, unknown>, dir: string): string | null {
  const t = config.chat_template;
  if (t === undefined || t === null) return null;
  if (typeof t === 'string') return t;
  const where = `${join(dir, 'tokenizer_config.json')}: chat_template`;
  if (!Array.isArray(t) || !t.every((e) => typeof (e as { name?: unknown })?.name === 'string' && typeof (e as { template?: unknown }).template === 'string')) {
    throw new GiftjsError(`${where} must be a template or a list of {"name", "template"}, got ${JSON.stringify(t).slice(0, 200)}`);
  }
  const named = t as { name: string; template: string }[];
  const chosen = named.find((e) => e.name === 'default');
  if (!chosen) throw new GiftjsError(`${where} names templates ${named.map((e) => JSON.stringify(e.name)).join(', ')} and none "default", the one transformers applies`);
  return chosen.template;
}

export class Tokenizer {
  private constructor(
    private readonly hf: HfTokenizer,
    readonly config: Record<string, unknown>,
    readonly source: string,
    /** chat_template.jinja's text, which comes before the config's chat_template (null: no such file). */
    private readonly templateFile: string | null,
    /** The named special tokens (bos_token, eos_token, ...), as transformers reads them (special_tokens.ts). */
    readonly specialTokens: Readonly<Record<string, string>>,
  ) {}

  /** Loads tokenizer.json (required) and tokenizer_config.json (optional) from a model folder. */
  static fromFolder(dir: string): Tokenizer {
    const tjPath = join(dir, 'tokenizer.json');
    if (!fileExists(tjPath)) throw new GiftjsError(`${dir}: no tokenizer.json (giftjs reads Hugging Face fast-tokenizer files)`);
    const json = readJsonFile(tjPath);
    checkTokenizerPatterns(json, tjPath); // a pattern that can hang every encode is refused at load
    const cfgPath = join(dir, 'tokenizer_config.json');
    const config = fileExists(cfgPath) ? readJsonFile(cfgPath) : {};
    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(json, { ...config, clean_up_tokenization_spaces: cleansUpSpaces(json, config, cfgPath) });
    } catch (err) {
      throw new GiftjsError(`${tjPath}: cannot build the tokenizer: ${(err as Error).message}`);
    }
    const mapPath = join(dir, 'special_tokens_map.json');
    const legacyMap = fileExists(mapPath) ? readJsonFile(mapPath) : null;
    return new Tokenizer(hf, config, dir, readTemplateFile(dir), namedSpecialTokens(config, legacyMap, mapPath));
  }

  /** Token ids as Hugging Face's tokenizer(text) gives them (special tokens added by default). */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    checkText(text);
    return this.guard('encoding a text', () => checkedIds(this.hf.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids));
  }

  /**
   * Runs a call into the tokenizer library: a tokenizer.json it cannot follow (a field of the
   * wrong type, say) fails there with a TypeError; it is reported as the file's fault.
   */
  private guard<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof GiftjsError) throw err;
      throw new GiftjsError(`${join(this.source, 'tokenizer.json')}: the tokenizer failed ${what} (${(err as Error).message}); the file is not one giftjs can use`);
    }
  }

  /**
   * One text or a pair as a classifier reads it: special tokens and token types as the
   * tokenizer's post-processor places them ([CLS] a [SEP] b [SEP] for BERT, <s> a </s></s> b </s>
   * for RoBERTa, plain concatenation without one), at most maxLength ids in all -- the texts lose
   * tokens from the longer one first before the special tokens go in, as transformers'
   * truncation="longest_first" does.
   */
  encodeForClassification(texts: readonly string[], maxLength: number): { ids: number[]; typeIds: number[]; truncated: boolean } {
    if (texts.length < 1 || texts.length > 2) throw new GiftjsError(`encodeForClassification: one text or a pair, got ${texts.length}`);
    for (const t of texts) checkText(t);
    // An empty second text is no pair, as transformers reads it (`tok(a, "")` encodes a alone).
    const given = texts.length === 2 && texts[1] === '' ? texts.slice(0, 1) : texts;
    return this.guard('encoding a text for classification', () => this.encodeForClassificationUnguarded(given, maxLength));
  }

  private encodeForClassificationUnguarded(texts: readonly string[], maxLength: number): { ids: number[]; typeIds: number[]; truncated: boolean } {
    // The post-processor works on token strings; the public encode() cannot truncate before it runs.
    const hf = this.hf as unknown as {
      tokenize(t: string, o: { add_special_tokens: boolean }): string[];
      post_processor: ((a: string[], b: string[] | null, add: boolean) => { tokens: string[]; token_type_ids?: number[] }) | null;
    };
    const parts = texts.map((t) => hf.tokenize(t, { add_special_tokens: false }));
    const specials = hf.post_processor ? hf.post_processor([], texts.length === 2 ? [] : null, true).tokens.length : 0;
    const budget = Math.max(0, maxLength - specials);
    const total = parts.reduce((n, p) => n + p.length, 0);
    const truncated = total > budget;
    if (truncated) {
      const keep = parts.length === 1 ? [budget] : pairLengths(parts[0]!.length, parts[1]!.length, budget, maxLength);
      parts.forEach((p, k) => p.splice(keep[k]!));
    }
    const processed = hf.post_processor
      ? hf.post_processor(parts[0]!, parts[1] ?? null, true)
      : { tokens: parts.flat(), token_type_ids: parts.flatMap((p, k) => p.map(() => k)) };
    const unk = (this.hf as unknown as { model: { unk_token_id?: number } }).model.unk_token_id ?? 0;
    const ids = checkedIds(processed.tokens.map((t) => this.hf.token_to_id(t) ?? unk));
    return { ids, typeIds: processed.token_type_ids ?? ids.map(() => 0), truncated };
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    // An id past the vocabulary is skipped, as Hugging Face's tokenizers skip it (a model's vocabulary
    // may be padded past the tokenizer's); one that is no id at all (NaN, -1, 1.5) is refused.
    const bad = ids.findIndex((id) => !(Number.isInteger(id) && id >= 0));
    if (bad >= 0) throw new GiftjsError(`decode: ${ids[bad]} at position ${bad} is not a token id (a whole number >= 0)`);
    // No ids are the empty text, as in transformers (the library's decoder refuses an empty list).
    if (ids.length === 0) return '';
    return this.guard('decoding ids', () => this.hf.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? true }));
  }

  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  tokenId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  get bosTokenId(): number | null {
    const t = this.specialTokens.bos_token;
    return t === undefined ? null : (this.tokenId(t) ?? null);
  }

  get eosTokenId(): number | null {
    const t = this.specialTokens.eos_token;
    return t === undefined ? null : (this.tokenId(t) ?? null);
  }

  get hasChatTemplate(): boolean {
    return typeof this.config.chat_template === 'string';
  }

  /**
   * Renders the folder's chat template (chat_template.jinja, else tokenizer_config.json's) as
   * transformers does, with what it gives a template: the messages, `tools` (the functions' JSON
   * schemas; None where there are none, so `tools is not none` is false) and documents (None),
   * add_generation_prompt, every named special token the folder has (undefined where it has none,
   * as there), and `templateArguments` (a record's chat_template_kwargs, such as Qwen 3's
   * enable_thinking), which take a special token's name over but not the others'.
   */
  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
    const template = this.templateFile ?? configChatTemplate(this.config, this.source);
    if (template === null) throw new GiftjsError(`${this.source}: no chat template (neither chat_template.jinja nor tokenizer_config.json's chat_template)`);
    const extra = options.templateArguments ?? {};
    const taken = Object.keys(extra).filter((k) => RENDER_ARGUMENTS.includes(k));
    if (taken.length > 0) throw new GiftjsError(`chat template arguments may not name ${taken.map((k) => `'${k}'`).join(', ')}: transformers gives the template those itself`);
    return this.guard('rendering the chat template', () => renderChatTemplate(template, {
      ...this.specialTokens,
      ...extra,
      messages,
      tools: options.tools ?? null,
      documents: null,
      add_generation_prompt: options.addGenerationPrompt ?? true,
    }));
  }
}

/** The names apply_chat_template passes a template itself (a keyword argument of the same name is a TypeError there). */
export const RENDER_ARGUMENTS: readonly string[] = ['messages', 'tools', 'documents', 'add_generation_prompt'];

export interface ChatTemplateOptions {
  /** Append the assistant turn's header (default true). */
  addGenerationPrompt?: boolean;
  /** The functions the conversation may call, as JSON schemas (apply_chat_template's tools). */
  tools?: unknown[] | null;
  /** More names for the template (apply_chat_template's keyword arguments: enable_thinking, ...). */
  templateArguments?: Record<string, unknown>;
}

/**
 * Texts giftjs tokenizes are at most this long: the tokenizer holds hundreds of bytes per character
 * while it works (a 10 MB field took 4.5 GB), and every example is cut to --max-length tokens,
 * a few thousand characters, anyway.
 */
export const MAX_TEXT_CHARS = 2 * 2 ** 20;

// A string, of up to MAX_TEXT_CHARS characters.
function checkText(text: string): void {
  // (From JavaScript, 123 had encoded as the BOS token alone, and undefined failed inside.)
  if (typeof text !== 'string') throw new GiftjsError(`the tokenizer encodes a string, got ${text === null ? 'null' : typeof text}`);
  if (text.length > MAX_TEXT_CHARS) {
    throw new GiftjsError(`a text of ${text.length.toLocaleString('en-US')} characters; giftjs tokenizes texts of up to ${MAX_TEXT_CHARS.toLocaleString('en-US')} (examples are cut to --max-length tokens anyway): split the record into several`);
  }
}

/** Token ids must be non-negative integers (a vocabulary entry of 1e9 or -1 is a broken file). */
function checkedIds(ids: number[]): number[] {
  const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id > 0x7fffffff);
  if (bad !== undefined) throw new GiftjsError(`the tokenizer gave the token id ${bad}; ids must be integers >= 0`);
  return ids;
}

/**
 * How many tokens of each text of a pair longer than `budget` (maxLength less the special tokens) are
 * kept, as transformers 5.17 keeps them (tokenizers' longest-first truncation, measured on BERT pairs
 * against every split of up to 13 + 13 tokens): each text is first cut to maxLength; then a shorter
 * text that fits in half the budget is kept whole and the longer takes the rest, else the longer takes
 * the larger half and the shorter the smaller, the second text the larger on a tie.
 */
function pairLengths(first: number, second: number, budget: number, maxLength: number): [number, number] {
  const a = Math.min(first, maxLength);
  const b = Math.min(second, maxLength);
  if (a + b <= budget) return [a, b];
  const half = Math.floor(budget / 2);
  if (Math.min(a, b) <= half) return a <= b ? [a, budget - a] : [budget - b, b];
  return a > b ? [budget - half, half] : [half, budget - half];
}

// A folder's named special tokens (bos_token, eos_token, ..., and a model's own such as Gemma 3's
// image_token) as transformers 5.17 reads them from the files: what its special_tokens_map holds,
// which a chat template sees by name and which gives tokenizer.eos_token (the token TRL appends to
// a completion). Checked against transformers on crafted folders in test/io/chat_template.test.ts.
import { GiftjsError } from '../errors.js';

/** The names every tokenizer has (transformers' SPECIAL_TOKENS_ATTRIBUTES). */
const STANDARD = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

const LLAMA = { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' };
const GPT2 = { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' };
/**
 * The tokens a tokenizer_class of transformers 5.17 gives where neither file names them (its
 * __init__ defaults; "...Fast" names the same class), for the classes of the families giftjs
 * reads. Any other class (PreTrainedTokenizerFast, the generic one) gives none.
 */
const CLASS_DEFAULTS: Record<string, Record<string, string>> = {
  LlamaTokenizer: LLAMA,
  Phi3Tokenizer: LLAMA,
  CodeLlamaTokenizer: { ...LLAMA, prefix_token: '▁<PRE>', middle_token: '▁<MID>', suffix_token: '▁<SUF>', eot_token: '▁<EOT>', fill_token: '<FILL_ME>' },
  GemmaTokenizer: { bos_token: '<bos>', eos_token: '<eos>', unk_token: '<unk>', pad_token: '<pad>', mask_token: '<mask>' },
  Qwen2Tokenizer: { eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: '<|endoftext|>' },
  GPT2Tokenizer: GPT2,
  GPTNeoXTokenizer: { ...GPT2, pad_token: '<|padding|>' },
  BertTokenizer: { unk_token: '[UNK]', sep_token: '[SEP]', pad_token: '[PAD]', cls_token: '[CLS]', mask_token: '[MASK]' },
  RobertaTokenizer: { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', sep_token: '</s>', pad_token: '<pad>', cls_token: '<s>', mask_token: '<mask>' },
};

/** The default tokens of tokenizer_config.json's tokenizer_class (none for a class outside CLASS_DEFAULTS). */
export function classDefaultTokens(tokenizerClass: unknown): Record<string, string> {
  if (typeof tokenizerClass !== 'string') return {};
  const name = tokenizerClass.endsWith('Fast') ? tokenizerClass.slice(0, -'Fast'.length) : tokenizerClass;
  return Object.hasOwn(CLASS_DEFAULTS, name) ? CLASS_DEFAULTS[name]! : {};
}

/** A token field's text: a string, or an AddedToken ({"content": ...}); null for null or anything else. */
function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return null;
}

/**
 * The named special tokens of tokenizer_config.json (`config`) and the legacy special_tokens_map.json
 * (`legacyMap`, null where the folder has none), as transformers 5.17 combines them: a name in
 * special_tokens_map.json replaces tokenizer_config.json's; the standard names, any other key ending
 * in "_token" whose value is a token, and the entries of an "extra_special_tokens" mapping; a name
 * whose value is null is absent; the tokenizer_class's defaults fill the names neither file has.
 */
export function namedSpecialTokens(config: Record<string, unknown>, legacyMap: Record<string, unknown> | null, legacyMapPath = 'special_tokens_map.json'): Record<string, string> {
  const merged: Record<string, unknown> = { ...classDefaultTokens(config.tokenizer_class), ...config };
  if (legacyMap !== null) {
    for (const [key, value] of Object.entries(legacyMap)) {
      if (key === 'additional_special_tokens' || key === 'extra_special_tokens') continue; // lists of unnamed tokens
      if (value !== null && tokenText(value) === null && (STANDARD.includes(key) || key.endsWith('_token'))) {
        throw new GiftjsError(`${legacyMapPath}: '${key}' is ${JSON.stringify(value).slice(0, 100)}; a special token is a string or {"content": "..."}`);
      }
      merged[key] = value;
    }
  }
  const named: Record<string, string> = {};
  for (const [key, value] of Object.entries(merged)) {
    if (!key.endsWith('_token')) continue;
    // A model's own name takes a string or a typed AddedToken (an untyped {"content"} is not read as a token there).
    const typed = STANDARD.includes(key) || typeof value === 'string' || (value as { __type?: unknown } | null)?.__type === 'AddedToken' || legacyMap?.[key] === value;
    const text = typed ? tokenText(value) : null;
    if (text !== null) named[key] = text;
  }
  const extra = config.extra_special_tokens;
  if (extra !== null && typeof extra === 'object' && !Array.isArray(extra)) {
    for (const [key, value] of Object.entries(extra)) {
      const text = tokenText(value);
      if (text !== null) named[key] = text;
    }
  }
  return named;
}

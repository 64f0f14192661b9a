// gift generate --chat: the prompt as a user message in the tokenizer's chat template, after
// --system-prompt as a system message (mlx-lm's flag), and the same tokens generate() makes from that
// rendering; and mlx-lm's names for generate's and merge's flags answered with giftjs's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '../../src/cli/model_loading.js';
import { generate } from '../../src/generate/generate.js';
import { loadCausalLM } from '../../src/models/registry.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = mkdtempSync(join(tmpdir(), 'giftjs-generate-chat-'));
cpSync(join(ROOT, 'test/fixtures/llama/llama-gqa'), MODEL, { recursive: true });
const tokConfig = JSON.parse(readFileSync(join(MODEL, 'tokenizer_config.json'), 'utf8'));
tokConfig.chat_template = "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";
writeFileSync(join(MODEL, 'tokenizer_config.json'), JSON.stringify(tokConfig));

function gift(...args: string[]) {
  return spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
}

test('--chat renders the prompt as a user message, after --system-prompt as a system message, and generates from that', () => {
  const tokenizer = loadTokenizer(MODEL);
  const model = loadCausalLM(MODEL);
  const stops = [...model.config.eosTokenIds, ...(tokenizer.eosTokenId !== null ? [tokenizer.eosTokenId] : [])];
  const expected = (text: string) => `${tokenizer.decode(generate(model, tokenizer.encode(text, { addSpecialTokens: false }), { maxNewTokens: 8, stopTokens: stops }))}\n`;
  const withSystem = gift('generate', '--model', MODEL, '--chat', '--system-prompt', 'the dog', '--prompt', 'the cat sat', '--max-new-tokens', '8');
  assert.equal(withSystem.status, 0, withSystem.stderr);
  assert.equal(withSystem.stdout, expected('<system> the dog\n<user> the cat sat\n<assistant>'));
  const alone = gift('generate', '--model', MODEL, '--chat', '--prompt', 'the cat sat', '--max-new-tokens', '8');
  assert.equal(alone.status, 0, alone.stderr);
  assert.equal(alone.stdout, expected('<user> the cat sat\n<assistant>'));
  assert.notEqual(withSystem.stdout, alone.stdout, 'the system message reaches the model');
  const refused = gift('generate', '--model', MODEL, '--system-prompt', 'the dog', '--prompt', 'the cat sat');
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /--system-prompt is a system message before the prompt in the chat template: give --chat with it/);
});

test('--prompt - reads the prompt from stdin, as it is (mlx-lm\'s convention), with --chat too', () => {
  const tokenizer = loadTokenizer(MODEL);
  const model = loadCausalLM(MODEL);
  const stops = [...model.config.eosTokenIds, ...(tokenizer.eosTokenId !== null ? [tokenizer.eosTokenId] : [])];
  const expected = (ids: number[]) => `${tokenizer.decode(generate(model, ids, { maxNewTokens: 8, stopTokens: stops }))}\n`;
  const piped = (input: string, ...more: string[]) => spawnSync(process.execPath, [GIFT, 'generate', '--model', MODEL, '--prompt', '-', '--max-new-tokens', '8', ...more],
    { encoding: 'utf8', input, env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
  // A file's text, its final newline included: the tokens of that whole text.
  const plain = piped('the cat sat on\nthe mat\n');
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(plain.stdout, expected(tokenizer.encode('the cat sat on\nthe mat\n')));
  assert.notEqual(plain.stdout, expected(tokenizer.encode('-')), 'not the prompt "-"');
  const chat = piped('the cat sat', '--chat');
  assert.equal(chat.status, 0, chat.stderr);
  assert.equal(chat.stdout, expected(tokenizer.encode('<user> the cat sat\n<assistant>', { addSpecialTokens: false })));
});

test('mlx-lm\'s names for generate\'s and merge\'s flags are answered with giftjs\'s', () => {
  for (const [command, flag, ours] of [['generate', '--max-tokens', 'max-new-tokens'], ['generate', '--temp', 'temperature'], ['generate', '--adapter-path', 'adapter'], ['merge', '--adapter-path', 'adapter'], ['merge', '--save-path', 'out'], ['train', '--adapter-path', 'out']]) {
    const r = gift(command!, '--model', MODEL, flag!, 'x');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`Unknown option '${flag}'; did you mean --${ours}\\?`), `${command} ${flag}`);
  }
});

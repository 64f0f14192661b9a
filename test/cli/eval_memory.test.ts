// gift eval's generation tasks (commonsense, math) estimate their memory before loading -- the weights
// and the KV cache of the longest prompt with its answer -- and refuse a budget it would pass, naming
// the parts and a --max-new-tokens that fits, instead of loading a model of any size unestimated.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { alpacaPrompt } from '../../src/data/prompts.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');
const gift = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), ...args], { encoding: 'utf8' });

test('gift eval --task math is refused past --memory-limit, the estimate counting the longest prompt and its new tokens', () => {
  const work = mkdtempSync(join(tmpdir(), 'giftjs-eval-mem-'));
  const data = join(work, 'math.json');
  const instructions = ['What is 2+3?', 'What is 12+31?'];
  writeFileSync(data, JSON.stringify(instructions.map((instruction, i) => ({ instruction, answer: String(5 + 38 * i) }))));
  // The paper's Alpaca prompt, its trailing spaces left to the answer, read by the model's tokenizer.
  const tokenizer = Tokenizer.fromFolder(MODEL);
  const longest = Math.max(...instructions.map((s) => tokenizer.encode(alpacaPrompt(s).replace(/ +$/, '')).length));
  const newTokens = 4;
  assert.ok(longest + newTokens <= 128, 'the fixture\'s context holds the longest prompt and its answer');
  const refused = gift('eval', '--model', MODEL, '--data', data, '--task', 'math', '--max-new-tokens', String(newTokens), '--memory-limit', '1M');
  assert.equal(refused.status, 1, refused.stderr);
  assert.match(refused.stderr, new RegExp(`gift eval needs about .*the KV cache and activations for 1 x ${longest + newTokens} tokens.*this process may use 1 MB \\(--memory-limit\\); nothing was loaded`));
  assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
  const scored = gift('eval', '--model', MODEL, '--data', data, '--task', 'math', '--max-new-tokens', String(newTokens), '--memory-limit', '8G');
  assert.equal(scored.status, 0, scored.stderr);
  assert.match(scored.stdout, /math: accuracy .*\(\d of 2\)/);
});

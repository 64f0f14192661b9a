// gift generate ends, on stderr, with what mlx-lm's and llama.cpp's generation print: the prompt's tokens and
// their rate, the new tokens and their rate after the first, and the peak resident memory; stdout stays the text.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generationSummary } from '../../src/cli/generate.js';
import { loadTokenizer } from '../../src/cli/model_loading.js';
import { generate } from '../../src/generate/generate.js';
import { loadCausalLM } from '../../src/models/registry.js';

const GIFT = fileURLToPath(new URL('../../../bin/gift.js', import.meta.url));
const MODEL = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));

test('the summary: prompt tokens over the time to the first new token, the rest over the time after it, the peak memory', () => {
  assert.equal(generationSummary(16, 100, 33, 800, 612.4e6), 'prompt: 16 tokens, 160.0 tokens/s; generation: 33 tokens, 40.0 tokens/s after the first; peak memory 612 MB');
  // One new token has no rate after the first; none, no prompt rate either (no forward gave a token).
  assert.equal(generationSummary(1, 20, 1, 0, 5e6), 'prompt: 1 token, 50.0 tokens/s; generation: 1 token; peak memory 5 MB');
  assert.equal(generationSummary(4, 0, 0, 0, 5e6), 'prompt: 4 tokens; generation: 0 tokens; peak memory 5 MB');
});

test('gift generate prints the text on stdout and the summary of the tokens it made on stderr', () => {
  const r = spawnSync(process.execPath, [GIFT, 'generate', '--model', MODEL, '--prompt', 'the cat', '--max-new-tokens', '6'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  // The same generation through the library: the prompt's ids and the tokens made before a stop token or the limit.
  const tokenizer = loadTokenizer(MODEL);
  const model = loadCausalLM(MODEL);
  const ids = tokenizer.encode('the cat');
  const stops = [...model.config.eosTokenIds, ...(tokenizer.eosTokenId !== null ? [tokenizer.eosTokenId] : [])];
  const made = generate(model, ids, { maxNewTokens: 6, stopTokens: stops });
  assert.equal(r.stdout, `${tokenizer.decode(made)}\n`);
  const line = r.stderr.trim().split('\n').at(-1)!;
  const m = /^prompt: (\d+) tokens?, ([0-9.]+) tokens\/s; generation: (\d+) tokens?(, ([0-9.]+) tokens\/s after the first)?; peak memory (\d+) MB$/.exec(line);
  assert.ok(m, line);
  assert.equal(Number(m[1]), ids.length);
  assert.equal(Number(m[3]), made.length);
  assert.equal(m[4] !== undefined, made.length > 1);
  assert.ok(Number(m[2]) > 0 && Number(m[6]) > 0);
});

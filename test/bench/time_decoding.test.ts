// The decoding benchmark counts only tokens that were made: generation that reached the model's
// context stopped early, and its rate had been computed as if every token asked for was generated.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { alternateDecoding, timeDecoding } from '../../src/bench/generation.js';
import { loadCausalLM } from '../../src/models/registry.js';

const MODEL = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));

test('timeDecoding refuses to rate a generation that the model\'s context cut short', () => {
  const model = loadCausalLM(MODEL); // max_position_embeddings 128
  const prompt = (n: number) => Array.from({ length: n }, (_, i) => 3 + (i % 90));
  const fits = timeDecoding(model, prompt(100), 10);
  assert.equal(fits.generated.length, 11);
  assert.ok(Number.isFinite(fits.tokensPerSecond) && fits.tokensPerSecond > 0);
  // 120 + 10 positions: generation stops at the context, 9 tokens of the 11 timed.
  assert.throws(() => timeDecoding(model, prompt(120), 10), /timeDecoding: 9 tokens were generated of the 11 timed \(the prompt's 120 and these past the model's context of 128\?\)/);
});

test('alternateDecoding times the stream at the start of each round, after one untimed run of each case', async () => {
  const order: string[] = [];
  const decoding = (name: string, tokensPerSecond: number) => ({
    name,
    run: async () => {
      order.push(name);
      return { tokensPerSecond, prefillTokensPerSecond: 2 * tokensPerSecond };
    },
  });
  let streams = 0;
  const { rates, streamPerRound } = await alternateDecoding([decoding('a', 10), decoding('b', 20)], 3, () => {
    order.push('stream');
    return 30 + streams++;
  });
  assert.deepEqual(order, ['a', 'b', 'stream', 'a', 'b', 'stream', 'a', 'b', 'stream', 'a', 'b']);
  assert.deepEqual(streamPerRound, [30, 31, 32]);
  assert.deepEqual(rates.get('b')!.perRound, [20, 20, 20]);
  // Without a stream (or where it cannot be timed, null) no limit is recorded.
  assert.deepEqual((await alternateDecoding([decoding('a', 10)], 2)).streamPerRound, []);
  assert.deepEqual((await alternateDecoding([decoding('a', 10)], 2, () => null)).streamPerRound, []);
});

// A prompt cache keeps one generation's KV cache for the next: a prompt that begins with the tokens it
// holds (a chat's earlier turns) prefills only the rest. Checked against generation without it: the same
// greedy tokens and logits to rounding (the reused keys were made token by token, a fresh prefill makes
// them in one batch), the positions reused counted, and nothing reused where it would be wrong: a prompt
// that parts from the kept tokens, keys rotated by the text's length (LongRoPE), a generation that failed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generate, generateTokens } from '../../src/generate/generate.js';
import { PromptCache } from '../../src/generate/prompt_cache.js';
import { loadCausalLM } from '../../src/models/registry.js';

const LLAMA = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));
const PHI = fileURLToPath(new URL('../../../test/fixtures/phi_longrope/phi35', import.meta.url));

/** Greedy tokens and each step's logits. */
function run(model: ReturnType<typeof loadCausalLM>, prompt: number[], maxNewTokens: number, promptCache?: PromptCache) {
  const logits: Float32Array[] = [];
  const tokens = generate(model, prompt, { maxNewTokens, onLogits: (row) => void logits.push(Float32Array.from(row)), ...(promptCache ? { promptCache } : {}) });
  return { tokens, logits };
}

function assertSameGeneration(got: ReturnType<typeof run>, want: ReturnType<typeof run>, what: string): void {
  assert.deepEqual(got.tokens, want.tokens, what);
  got.logits.forEach((row, s) => row.forEach((v, j) => assert.ok(Math.abs(v - want.logits[s]![j]!) <= 1e-4 * (1 + Math.abs(want.logits[s]![j]!)), `${what}: step ${s}, logit ${j}: ${v} against ${want.logits[s]![j]}`)));
}

test('a multi-turn conversation reuses the turns before, and generates what a fresh generation does', () => {
  const model = loadCausalLM(LLAMA);
  const kept = new PromptCache(model, 128);
  const first = [1, 85, 3, 6, 83];
  const a = run(model, first, 6, kept);
  assertSameGeneration(a, run(model, first, 6), 'first turn');
  assert.equal(kept.lastReused, 0);
  // The next turn resends the first, its answer and more.
  const second = [...first, ...a.tokens, 7, 40, 2, 9];
  const b = run(model, second, 8, kept);
  assertSameGeneration(b, run(model, second, 8), 'second turn');
  // The cache held the first prompt and the answer but its last token (never fed to the model).
  assert.equal(kept.lastReused, first.length + a.tokens.length - 1);
  // The same prompt again: all but its last token reused (its logits are needed).
  const again = run(model, second, 8, kept);
  assertSameGeneration(again, run(model, second, 8), 'the same prompt again');
  assert.equal(kept.lastReused, second.length - 1);
  // A prompt that parts from the kept tokens at position 3 reuses the 3 before.
  const parted = [1, 85, 3, 50, 51, 52];
  assertSameGeneration(run(model, parted, 5, kept), run(model, parted, 5), 'a prompt that parts');
  assert.equal(kept.lastReused, 3);
  // One that shares only the BOS token reuses it; one that shares nothing starts afresh.
  const other = [1, 2, 3];
  assertSameGeneration(run(model, other, 5, kept), run(model, other, 5), 'another prompt');
  assert.equal(kept.lastReused, 1);
  const unrelated = [4, 2, 3];
  assertSameGeneration(run(model, unrelated, 5, kept), run(model, unrelated, 5), 'an unrelated prompt');
  assert.equal(kept.lastReused, 0);
  kept.dispose();
});

test('a consumer that stops early leaves the cache right; a generation that failed leaves nothing to reuse', () => {
  const model = loadCausalLM(LLAMA);
  const kept = new PromptCache(model, 128);
  const prompt = [1, 85, 3, 6, 83];
  const made: number[] = [];
  for (const t of generateTokens(model, prompt, { maxNewTokens: 10, promptCache: kept })) {
    made.push(t);
    if (made.length === 3) break;
  }
  const next = [...prompt, ...made, 11];
  assertSameGeneration(run(model, next, 4, kept), run(model, next, 4), 'after an early stop');
  assert.equal(kept.lastReused, prompt.length + 2);
  // A forward that throws (a token past the vocabulary) midway: the next generation reuses nothing.
  assert.throws(() => generate(model, [...next, 1_000_000], { maxNewTokens: 2, promptCache: kept }));
  assertSameGeneration(run(model, next, 4, kept), run(model, next, 4), 'after a failure');
  assert.equal(kept.lastReused, 0);
  assert.throws(() => kept.take(Array.from({ length: 129 }, () => 1)), /PromptCache: a prompt of 129 tokens is past its capacity of 128 positions/);
  kept.dispose();
});

test('keys rotated by the text\'s length (LongRoPE) are not reused for another text', () => {
  const model = loadCausalLM(PHI);
  const kept = new PromptCache(model, 64);
  // Past the pretraining length (8): the long factors; the next prompt, shorter, takes the short ones.
  const long = [1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41];
  assertSameGeneration(run(model, long, 3, kept), run(model, long, 3), 'long');
  const short = long.slice(0, 6);
  assertSameGeneration(run(model, short, 3, kept), run(model, short, 3), 'short after long');
  assert.equal(kept.lastReused, 0);
  kept.dispose();
});

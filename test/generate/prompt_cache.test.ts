// A prompt cache keeps one generation's KV cache for the next: a prompt that begins with the tokens it
// holds (a chat's earlier turns) prefills only the rest. Checked against generation without it: the same
// greedy tokens and logits to rounding (the reused keys were made token by token, a fresh prefill makes
// them in one batch), the positions reused counted, and nothing reused where it would be wrong: a prompt
// that parts from the kept tokens, keys rotated by the text's length (LongRoPE), a generation that failed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generate, generateTokens } from '../../src/generate/generate.js';
import { PromptCache, PromptCaches } from '../../src/generate/prompt_cache.js';
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

test('several kept caches: two conversations taking turns each reuse their own, a new one takes the cache used longest ago', () => {
  const model = loadCausalLM(LLAMA);
  const caches = new PromptCaches(model, 128, 2);
  const turn = (prompt: number[], maxNewTokens: number) => {
    const cache = caches.for(prompt);
    const r = run(model, prompt, maxNewTokens, cache);
    assertSameGeneration(r, run(model, prompt, maxNewTokens), `prompt ${prompt.join(',')}`);
    return { tokens: r.tokens, cache, reused: cache.lastReused };
  };
  // Both begin with the same system prompt (BOS and 3 tokens), then part.
  const a1 = [1, 85, 3, 6, 40, 41, 42, 43];
  const b1 = [1, 85, 3, 6, 70, 71, 72, 73];
  const a = turn(a1, 5);
  const b = turn(b1, 5);
  assert.notEqual(b.cache, a.cache, 'B shares 4 of the tokens A keeps and parts from them: it takes the unused cache');
  const a2 = [...a1, ...a.tokens, 9, 10];
  const b2 = [...b1, ...b.tokens, 11, 12];
  const againA = turn(a2, 4);
  assert.equal(againA.cache, a.cache);
  assert.equal(againA.reused, a1.length + a.tokens.length - 1);
  const againB = turn(b2, 4);
  assert.equal(againB.cache, b.cache);
  assert.equal(againB.reused, b1.length + b.tokens.length - 1);
  // The same prompt again (a regenerated answer) lies within what B's cache keeps: all but its last token reused.
  const regenerated = turn(b2, 4);
  assert.equal(regenerated.cache, b.cache);
  assert.equal(regenerated.reused, b2.length - 1);
  // A third conversation that shares a tenth of neither (only BOS) takes the cache used longest ago, A's,
  // and B goes on where it was.
  const c = turn([1, 2, 3], 3);
  assert.equal(c.cache, a.cache);
  assert.equal(c.reused, 1, 'the BOS token it shares');
  assert.equal(turn([...b2, ...regenerated.tokens, 13], 3).reused, b2.length + regenerated.tokens.length - 1);
  // With one cache, as before: conversations taking turns reuse what they share (BOS and the system prompt).
  const one = new PromptCaches(model, 128, 1);
  for (const prompt of [a1, b1]) run(model, prompt, 5, one.for(prompt));
  const cache = one.for(a2);
  run(model, a2, 4, cache);
  assert.equal(cache.lastReused, 4);
  one.dispose();
  assert.throws(() => new PromptCaches(model, 128, 0), /PromptCaches: size must be a whole number of caches >= 1, got 0/);
  caches.dispose();
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generate } from '../../src/generate/generate.js';
import { argmax, sampleToken } from '../../src/generate/sampling.js';
import { logprobsOf } from '../../src/generate/logprobs.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Random } from '../../src/tensor/random.js';
import { assertClose } from '../helpers.js';

const MODEL = fileURLToPath(new URL('../../../test/fixtures/llama/llama3-scaled-tied', import.meta.url));

test('greedy generation with the KV cache equals recomputing the whole sequence each step', () => {
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  const prompt = [1, 17, 33, 2, 60];
  const cached = generate(model, prompt, { maxNewTokens: 12 });
  const seq = [...prompt];
  for (let i = 0; i < 12; i++) {
    const logits = noGrad(() => model.forward(seq, 1, seq.length));
    const v = logits.shape[2]!;
    seq.push(argmax(logits.data.subarray((seq.length - 1) * v)));
  }
  assert.deepEqual(cached, seq.slice(prompt.length));
});

test('stop tokens, streaming callback and seeded sampling', () => {
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  const greedy = generate(model, [1, 5], { maxNewTokens: 8 });
  const streamed: number[] = [];
  const stopped = generate(model, [1, 5], { maxNewTokens: 8, stopTokens: [greedy[2]!], onToken: (t) => void streamed.push(t) });
  assert.deepEqual(stopped, greedy.slice(0, greedy.indexOf(greedy[2]!) + 1));
  assert.deepEqual(streamed, stopped);
  const a = generate(model, [1, 5], { maxNewTokens: 10, temperature: 1.2, topK: 20, topP: 0.9, seed: 3 });
  const b = generate(model, [1, 5], { maxNewTokens: 10, temperature: 1.2, topK: 20, topP: 0.9, seed: 3 });
  assert.deepEqual(a, b);
  assert.deepEqual(generate(model, [1, 5], { maxNewTokens: 8, temperature: 1, topK: 1 }), greedy, 'top-k 1 is greedy');
  // A length that is not a whole number had generated nothing (NaN) or rounded up (2.5), silently.
  for (const maxNewTokens of [NaN, 2.5, -1]) assert.throws(() => generate(model, [1, 5], { maxNewTokens }), new RegExp(`generate: maxNewTokens must be a whole number >= 0, got ${maxNewTokens}`));
  assert.deepEqual(generate(model, [1, 5], { maxNewTokens: 0 }), []);
  // The sampler's seed is 32 bits: 2^32 had sampled exactly as seed 0, -1 as 2^32 - 1.
  for (const seed of [2 ** 32, -1, 1.5]) {
    assert.throws(() => generate(model, [1, 5], { maxNewTokens: 4, temperature: 1, seed }), new RegExp(`generate: seed must be a whole number from 0 to 4294967295 \\(2\\^32 - 1: the sampler's seed is 32 bits\\), got ${seed}`));
  }
  assert.equal(generate(model, [1, 5], { maxNewTokens: 4, temperature: 1, seed: 2 ** 32 - 1 }).length, 4);
  assert.throws(() => generate(model, [1, 5], { temperature: NaN }), /temperature must be a finite number >= 0, got NaN/);
});

test('presence and frequency penalties lower each generated token\'s logit by OpenAI\'s formula (checked against whole-sequence forwards)', () => {
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  const prompt = [1, 17, 33, 2, 60];
  const plain = generate(model, prompt, { maxNewTokens: 16 });
  for (const [presencePenalty, frequencyPenalty] of [[0, 2], [1.5, 0], [0.5, 1], [-1, -0.5]] as const) {
    const penalized = generate(model, prompt, { maxNewTokens: 16, presencePenalty, frequencyPenalty });
    // mu[j] - c[j] * frequency - (c[j] > 0) * presence, c[j] counting the generated tokens only.
    const seq = [...prompt];
    for (let i = 0; i < 16; i++) {
      const logits = noGrad(() => model.forward(seq, 1, seq.length));
      const v = logits.shape[2]!;
      const row = Array.from(logits.data.subarray((seq.length - 1) * v, seq.length * v));
      const generated = seq.slice(prompt.length);
      for (let j = 0; j < v; j++) {
        const c = generated.filter((t) => t === j).length;
        row[j] = row[j]! - c * frequencyPenalty - (c > 0 ? presencePenalty : 0);
      }
      seq.push(argmax(Float32Array.from(row)));
    }
    assert.deepEqual(penalized, seq.slice(prompt.length), `presence ${presencePenalty}, frequency ${frequencyPenalty}`);
  }
  assert.notDeepEqual(generate(model, prompt, { maxNewTokens: 16, frequencyPenalty: 2 }), plain, 'the penalty changes this model\'s greedy text');
  assert.deepEqual(generate(model, prompt, { maxNewTokens: 16, presencePenalty: 0, frequencyPenalty: 0 }), plain);
  for (const presencePenalty of [2.5, NaN]) assert.throws(() => generate(model, prompt, { presencePenalty }), new RegExp(`presence penalty must be from -2 to 2 \\(0: off\\), got ${presencePenalty}`));
  assert.throws(() => generate(model, prompt, { frequencyPenalty: -3 }), /frequency penalty must be from -2 to 2 \(0: off\), got -3/);
});

test('logprobsOf: log-softmax of the chosen token and the k most likely, by a sort of the same values; a NaN or +Infinity refused', () => {
  const rng = new Random(4);
  const logits = Float32Array.from({ length: 500 }, () => Math.round(rng.normal() * 8) / 2); // ties among them
  logits[7] = -Infinity;
  const logZ = Math.log(Array.from(logits).reduce((a, x) => a + Math.exp(x), 0));
  const order = Array.from(logits, (x, i) => [i, x] as const).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  for (const top of [0, 1, 5, 20]) {
    const r = logprobsOf(logits, 3, top);
    assert.ok(Math.abs(r.logprob - (logits[3]! - logZ)) < 1e-9);
    assert.deepEqual(r.top.map((t) => t.token), order.slice(0, top).map(([i]) => i), `top ${top}`);
    r.top.forEach((t) => assert.ok(Math.abs(t.logprob - (logits[t.token]! - logZ)) < 1e-9));
  }
  assert.equal(logprobsOf(logits, 7, 0).logprob, -Infinity, 'a masked token');
  assert.equal(logprobsOf([1, 2], 0, 5).top.length, 2);
  for (const bad of [NaN, Infinity]) assert.throws(() => logprobsOf([0, bad, 1], 0, 2), new RegExp(`the model's output holds ${bad} \\(score 1 of 3\\)`));
});

test('sampling follows the distribution, and top-k / top-p cut its tail', () => {
  const logits = [Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)];
  const count = (opts: object) => {
    const rng = new Random(1);
    const c = [0, 0, 0, 0];
    for (let i = 0; i < 20000; i++) c[sampleToken(logits, { temperature: 1, ...opts }, rng)]!++;
    return c.map((x) => x / 20000);
  };
  const full = count({});
  [0.5, 0.3, 0.15, 0.05].forEach((p, i) => assert.ok(Math.abs(full[i]! - p) < 0.015, `p${i} ${full[i]}`));
  const k2 = count({ topK: 2 });
  assert.equal(k2[2], 0);
  assert.ok(Math.abs(k2[0]! - 0.625) < 0.015);
  const p08 = count({ topP: 0.75 }); // 0.5 alone falls short, 0.5 + 0.3 reaches it: two tokens
  assert.equal(p08[2]! + p08[3]!, 0);
  assert.throws(() => sampleToken(logits, { temperature: -1 }, new Random(1)), /temperature must be a finite number >= 0, got -1/);
});

test('sampling refuses what would choose tokens regardless of the model: NaN or +Infinity logits, a NaN temperature, a fractional top-k', () => {
  const rng = new Random(1);
  // Each had drawn the last candidate every time (every probability NaN), without a word.
  assert.throws(() => sampleToken([0.1, NaN, 0.3], { temperature: 0.7 }, rng), /the model's output holds NaN \(score 1 of 3\)/);
  assert.throws(() => sampleToken([0.1, Infinity, 0.3], { temperature: 0.7 }, rng), /the model's output holds Infinity \(score 1 of 3\)/);
  assert.throws(() => sampleToken([0.1, 0.2], { temperature: NaN }, rng), /temperature must be a finite number >= 0, got NaN/);
  assert.throws(() => sampleToken([0.1, 0.2], { temperature: Infinity }, rng), /temperature must be a finite number >= 0, got Infinity/);
  assert.throws(() => sampleToken([0.1, 0.2], { temperature: 1, topK: 1.5 }, rng), /top-k must be a whole number >= 0 \(0: off\), got 1.5/);
  assert.throws(() => sampleToken([0.1, 0.2], { temperature: 1, topK: -2 }, rng), /top-k must be a whole number >= 0/);
  assert.throws(() => sampleToken([0.1, 0.2], { temperature: 1, topP: NaN }, rng), /top-p must be in \(0, 1\], got NaN/);
  assert.throws(() => sampleToken([-Infinity, -Infinity], { temperature: 1 }, rng), /sampling: every one of the 2 tokens has a logit of -Infinity; there is nothing to draw from/);
  // -Infinity is a masked token, not an error: never drawn.
  for (let i = 0; i < 200; i++) assert.notEqual(sampleToken([0.1, -Infinity, 0.3], { temperature: 1 }, rng), 1);
});

test('the KV cache writes each step into storage that grows past its planned length, keeping the keys: each step\'s logits are the whole sequence\'s', () => {
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  const seq = [1, 17, 33, 2, 60];
  const cache = model.newCache(3); // planned for fewer positions than the prompt: the storage grows from the first forward on
  const capacities: number[] = [];
  noGrad(() => {
    let input = [...seq];
    for (let step = 0; step < 9; step++) {
      const cached = model.forward(input, 1, input.length, { cache });
      capacities.push(cache.capacity);
      const whole = model.forward(seq, 1, seq.length);
      const v = whole.shape[2]!;
      const last = cached.data.subarray((input.length - 1) * v, input.length * v);
      const expected = whole.data.subarray((seq.length - 1) * v);
      for (let i = 0; i < v; i++) assert.ok(Math.abs(last[i]! - expected[i]!) <= 1e-5 + 1e-5 * Math.abs(expected[i]!), `step ${step} logit ${i}: ${last[i]} vs ${expected[i]}`);
      const next = argmax(expected);
      seq.push(next);
      input = [next];
    }
  });
  cache.dispose();
  assert.deepEqual(capacities, [5, 10, 10, 10, 10, 10, 20, 20, 20], 'the prompt, then doubling whenever a step passes the storage');
});

test('logitsToKeep gives the last positions\' logits of the whole forward (Llama, and Gemma 2 with its soft-capped logits); a bad count is refused', () => {
  const gemmaDir = fileURLToPath(new URL('../../../test/fixtures/gemma/gemma2', import.meta.url));
  for (const model of [LlamaForCausalLM.fromPretrained(MODEL), loadCausalLM(gemmaDir)]) {
    const ids = [1, 17, 33, 2, 60, 9, 4];
    noGrad(() => {
      const all = model.forward(ids, 1, ids.length);
      const v = all.shape[2]!;
      for (const keep of [1, 3]) {
        const kept = model.forward(ids, 1, ids.length, { logitsToKeep: keep });
        assert.deepEqual(kept.shape, [1, keep, v]);
        // (One row's product takes the few-rows GEMM, which sums in its own order: equal to rounding.)
        assertClose(kept.data, all.data.subarray((ids.length - keep) * v), `${model.config.architecture} keep ${keep}`, 1e-5, 1e-5);
      }
      assert.deepEqual(model.forward(ids, 1, ids.length, { logitsToKeep: 0 }).shape, all.shape, '0 keeps every position');
      assert.throws(() => model.forward(ids, 1, ids.length, { logitsToKeep: -1 }), /logitsToKeep must be a whole number of positions \(0: all\), got -1/);
    });
  }
});

test('a KV cache\'s planned length is a whole number of positions, else refused by name', () => {
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  for (const bad of [NaN, -1, 2.5, Infinity]) assert.throws(() => model.newCache(bad), /KV cache: plannedLength must be a whole number of positions, got/);
});

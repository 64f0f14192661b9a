// Generation speed with merged weights: greedy decoding with the KV cache on a random model of a
// given shape, tokens per second after the prompt.
import { performance } from 'node:perf_hooks';
import { generate } from '../generate/generate.js';
import { setInt8Activations } from '../backend/index.js';
import { randomBenchModel, type BenchDType } from './random_model.js';
import { Random } from '../tensor/random.js';
import { stepShape } from './step_shapes.js';
import type { CausalLM } from '../models/causal_lm.js';

/**
 * Decoding tokens per second (after the first new token), the prompt's prefill in tokens per second
 * (the forward over the prompt that gives the first new token), and the model and prompt timed (for a
 * peer to time on the same ones).
 */
export function benchGeneration(shape: string, promptLength: number, tokens: number, dtype: BenchDType): { tokensPerSecond: number; prefillTokensPerSecond: number; config: Record<string, unknown>; model: CausalLM; prompt: number[] } {
  const model = randomBenchModel(shape, dtype);
  const config = model.config;
  for (const p of model.parameters()) p.requiresGrad = false;
  const r = new Random(1);
  const prompt = Array.from({ length: promptLength }, () => r.int(config.vocabSize));
  return { ...timeDecoding(model, prompt, tokens), config: stepShape(shape)!, model, prompt };
}

/**
 * One greedy generation of `tokens` after the prompt (tokens + 1 generated, the first ending the
 * prefill): decoding tokens/s, the prefill's, and the tokens generated.
 */
export function timeDecoding(model: CausalLM, prompt: number[], tokens: number): { tokensPerSecond: number; prefillTokensPerSecond: number; generated: number[] } {
  const begin = performance.now();
  let start = 0;
  const generated = generate(model, prompt, { maxNewTokens: tokens + 1, onToken: (_t, i) => void (i === 0 && (start = performance.now())) });
  const seconds = (performance.now() - start) / 1000;
  return { tokensPerSecond: tokens / seconds, prefillTokensPerSecond: prompt.length / ((start - begin) / 1000), generated };
}

/**
 * Decoding with the float products against decoding with int8 activations (setInt8Activations) on the
 * same model, alternating `rounds` times so a shared machine's slow spells fall on both: mean tokens/s
 * of each, and the two texts' first point of difference (null: the same tokens).
 */
export function benchInt8Activations(model: CausalLM, prompt: number[], tokens: number, rounds = 2): { exact: number; int8: number; firstDifference: number | null } {
  const texts: Record<'exact' | 'int8', number[]> = { exact: [], int8: [] };
  const seconds = { exact: 0, int8: 0 };
  const run = (which: 'exact' | 'int8') => {
    setInt8Activations(which === 'int8');
    try {
      const r = timeDecoding(model, prompt, tokens);
      seconds[which] += tokens / r.tokensPerSecond;
      texts[which] = r.generated;
    } finally {
      setInt8Activations(false);
    }
  };
  for (let i = 0; i < rounds; i++) {
    run('exact');
    run('int8');
  }
  const at = texts.exact.findIndex((t, i) => t !== texts.int8[i]);
  return { exact: (tokens * rounds) / seconds.exact, int8: (tokens * rounds) / seconds.int8, firstDifference: at < 0 ? null : at };
}

// Generation speed with merged weights: greedy decoding with the KV cache on a random model of a
// given shape, tokens per second after the prompt.
import { performance } from 'node:perf_hooks';
import { generate } from '../generate/generate.js';
import { randomBenchModel, type BenchDType } from './random_model.js';
import { Random } from '../tensor/random.js';
import { STEP_SHAPES } from './step_shapes.js';
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
  const begin = performance.now();
  let start = 0;
  generate(model, prompt, { maxNewTokens: tokens + 1, onToken: (_t, i) => void (i === 0 && (start = performance.now())) });
  const seconds = (performance.now() - start) / 1000;
  return { tokensPerSecond: tokens / seconds, prefillTokensPerSecond: promptLength / ((start - begin) / 1000), config: STEP_SHAPES[shape]!, model, prompt };
}

// Autoregressive generation with a KV cache: the prompt is run once, then one token per step.
import type { CausalLM } from '../models/causal_lm.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/memory.js';
import { isUserSeed, Random } from '../tensor/random.js';
import { checkSamplingOptions, penalizedLogits, sampleToken, type SamplingOptions } from './sampling.js';
import { GiftjsError, refuseUnknownOptions } from '../errors.js';
import { PromptCache } from './prompt_cache.js';

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens?: number;
  /** Generation stops after any of these tokens (it is included in the output). */
  stopTokens?: readonly number[];
  seed?: number;
  /** Called with each new token as it is chosen; return false to stop. */
  onToken?: (token: number, index: number) => boolean | void;
  /**
   * Called with each step's logits (the model's, before penalties and temperature) and the token chosen
   * from them, before it is given out; the logits are valid during the call only.
   */
  onLogits?: (logits: Float32Array, token: number) => void;
  /**
   * The KV cache of the last generation, kept for the next: the prompt's tokens it holds are not
   * computed again (a server's multi-turn chat). Without it, a cache is made and released here.
   */
  promptCache?: PromptCache;
}

/** Generates up to maxNewTokens tokens after the prompt ids; returns only the new ones. */
export function generate(model: CausalLM, prompt: readonly number[], options: GenerateOptions = {}): number[] {
  const out: number[] = [];
  for (const token of generateTokens(model, prompt, options)) {
    out.push(token);
    if (options.onToken?.(token, out.length - 1) === false) break;
  }
  return out;
}

/**
 * The same tokens one at a time, for callers that do other work between them (a server streaming
 * each token). The KV cache is released when the iteration ends, however it ends (a prompt cache
 * given keeps it for the next generation, or drops it where a forward failed midway).
 */
export function* generateTokens(model: CausalLM, prompt: readonly number[], options: Omit<GenerateOptions, 'onToken'> = {}): Generator<number, void, void> {
  if (prompt.length === 0) throw new GiftjsError('generate: the prompt is empty (start it with the BOS token)');
  const maxNew = options.maxNewTokens ?? 64;
  if (!(Number.isInteger(maxNew) && maxNew >= 0)) throw new GiftjsError(`generate: maxNewTokens must be a whole number >= 0, got ${maxNew}`);
  refuseUnknownOptions(options, ['maxNewTokens', 'stopTokens', 'seed', 'onToken', 'onLogits', 'temperature', 'topK', 'topP', 'minP', 'presencePenalty', 'frequencyPenalty', 'repetitionPenalty', 'promptCache'], 'generate');
  checkSamplingOptions(options);
  const stops = new Set(options.stopTokens ?? []);
  const seed = options.seed ?? 0;
  // The generator's seed is 32 bits: 2^32 had been seed 0 again, two "different" samplings alike.
  if (!isUserSeed(seed)) throw new GiftjsError(`generate: seed must be a whole number from 0 to 4294967295 (2^32 - 1: the sampler's seed is 32 bits), got ${seed}`);
  const rng = new Random(seed);
  const kept = options.promptCache;
  const cache = kept ? kept.take(prompt) : model.newCache(Math.min(prompt.length + maxNew, model.config.maxPositionEmbeddings));
  const tokens: number[] = [...prompt];
  let failed = false;
  try {
    let input: number[] = prompt.slice(cache.length);
    // How often each token was generated, for the presence and frequency penalties; every token of the
    // text so far, for the repetition penalty.
    const counts = new Map<number, number>();
    const seen = new Set(prompt);
    for (let step = 0; step < maxNew; step++) {
      if (cache.length + input.length > cache.reusableUpTo) {
        cache.dispose(); // its keys were made for shorter texts (LongRoPE's short factors): all the tokens again
        input = [...tokens];
      }
      const next = tidy(() =>
        noGrad(() => {
          const logits = model.forward(input, 1, input.length, { cache, logitsToKeep: 1 }).read();
          const token = sampleToken(penalizedLogits(logits, seen, counts, options), options, rng);
          options.onLogits?.(logits, token);
          return token;
        }),
      );
      yield next;
      tokens.push(next);
      counts.set(next, (counts.get(next) ?? 0) + 1);
      seen.add(next);
      if (stops.has(next)) break;
      if (cache.length + 1 > model.config.maxPositionEmbeddings) break;
      input = [next];
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    PromptCache.endUse(cache, kept, tokens, failed);
  }
}

// Generation speed with merged weights: greedy decoding with the KV cache on a random model of a
// given shape, tokens per second after the prompt.
import { performance } from 'node:perf_hooks';
import { generate } from '../generate/generate.js';
import { setBf16Compute, setInt8Activations } from '../backend/index.js';
import { GiftjsError } from '../errors.js';
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
  // Checked before the model is built: past the context, generation stops early (and the rate would
  // count tokens never made), and a prompt alone past it is refused by the forward, naming gift train's
  // --max-length.
  const context = stepShape(shape)?.max_position_embeddings;
  if (typeof context === 'number' && promptLength + tokens > context) {
    throw new GiftjsError(`bench generate on ${shape}: --prompt ${promptLength} and --new-tokens ${tokens} fill ${promptLength + tokens} positions, past the shape's context (${context}): give fewer`);
  }
  const model = randomBenchModel(shape, dtype);
  const config = model.config;
  for (const p of model.parameters()) p.requiresGrad = false;
  const r = new Random(1);
  const prompt = Array.from({ length: promptLength }, () => r.int(config.vocabSize));
  // A short warm-up generation first (the thread pool, first-touch of buffers, JIT), as the peers get one.
  timeDecoding(model, prompt, 1);
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
  // (Generation ends early only at a stop token, none here, or at the model's context.)
  if (generated.length !== tokens + 1) throw new GiftjsError(`timeDecoding: ${generated.length} tokens were generated of the ${tokens + 1} timed (the prompt's ${prompt.length} and these past the model's context of ${model.config.maxPositionEmbeddings}?)`);
  return { tokensPerSecond: tokens / seconds, prefillTokensPerSecond: prompt.length / ((start - begin) / 1000), generated };
}

/** One way of decoding the benchmark's prompt: its name, and one timed run (decoding and prefill tokens/s, and the tokens where giftjs made them). */
export interface DecodingCase {
  readonly name: string;
  run(): Promise<{ tokensPerSecond: number; prefillTokensPerSecond: number; generated?: number[] }>;
}

/** How giftjs multiplies while decoding: exact float32 products, int8 activations (as llama.cpp over Q8_0/Q4_0), or bf16 dot products. */
export type DecodingProducts = 'float products' | 'int8 activations' | 'bf16 products';

/**
 * giftjs's greedy decoding of `tokens` tokens after `prompt` on `model` with the given products
 * (setInt8Activations / setBf16Compute, switched off again after the run).
 */
export function giftjsDecoding(model: CausalLM, prompt: number[], tokens: number, products: DecodingProducts): DecodingCase {
  return {
    name: products,
    run: async () => {
      if (products === 'int8 activations') setInt8Activations(true);
      if (products === 'bf16 products' && !setBf16Compute(true)) throw new GiftjsError('bf16 products need the native kernels on a CPU with AVX-512 BF16');
      try {
        return timeDecoding(model, prompt, tokens);
      } finally {
        setInt8Activations(false);
        setBf16Compute(false);
      }
    },
  };
}

export interface AlternatedRate {
  /** Over all rounds: their tokens over their seconds. */
  tokensPerSecond: number;
  perRound: number[];
  /** The prompt's prefill over all rounds, likewise. */
  prefillTokensPerSecond: number;
  prefillPerRound: number[];
  /** The tokens of the last round, where the case reports them. */
  generated?: number[];
}

/** alternateDecoding's results: each case's rates, and the memory stream of each round where one was timed. */
export interface AlternatedDecoding {
  rates: Map<string, AlternatedRate>;
  /** GB/s, timed at the start of each round (empty where no stream was given). */
  streamPerRound: number[];
}

/**
 * After a warm-up run each, the cases run one after the other, `rounds` times over, so a shared machine's slow spells fall on
 * all of them (this machine's speed drifts 10-20% between minutes): each case's rate over its rounds. With `stream`,
 * the memory stream is timed at the start of each round too, the limit of that round's decoding.
 */
export async function alternateDecoding(cases: DecodingCase[], rounds: number, stream?: () => number | null): Promise<AlternatedDecoding> {
  const rates = new Map<string, AlternatedRate>(cases.map((c) => [c.name, { tokensPerSecond: 0, perRound: [], prefillTokensPerSecond: 0, prefillPerRound: [] }]));
  const streamPerRound: number[] = [];
  // One untimed run of each first: a first run pays for its buffers' first touch (measured: giftjs's
  // first round at 0.4x llama.cpp, the next two at 0.8-1.1x).
  for (const c of cases) await c.run();
  for (let i = 0; i < rounds; i++) {
    const limit = stream?.();
    if (limit != null) streamPerRound.push(limit);
    for (const c of cases) {
      const r = await c.run();
      const rate = rates.get(c.name)!;
      rate.perRound.push(r.tokensPerSecond);
      rate.prefillPerRound.push(r.prefillTokensPerSecond);
      if (r.generated) rate.generated = r.generated;
    }
  }
  // Each round decodes the same number of tokens: their count over the summed seconds is the harmonic mean.
  const harmonicMean = (rates: number[]) => rates.length / rates.reduce((s, t) => s + 1 / t, 0);
  for (const rate of rates.values()) {
    rate.tokensPerSecond = harmonicMean(rate.perRound);
    rate.prefillTokensPerSecond = harmonicMean(rate.prefillPerRound);
  }
  return { rates, streamPerRound };
}

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
import { timeBackendCalls, type GemmCallGroup, type KernelCalls } from './backend_calls.js';

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
 * prefill): decoding tokens/s, the prefill's, and the tokens generated. `onDecoding` is called where
 * the decoding's clock starts, after the first new token.
 */
export function timeDecoding(model: CausalLM, prompt: number[], tokens: number, onDecoding?: () => void): { tokensPerSecond: number; prefillTokensPerSecond: number; generated: number[] } {
  const begin = performance.now();
  let start = 0;
  const generated = generate(model, prompt, {
    maxNewTokens: tokens + 1,
    onToken: (_t, i) => {
      if (i !== 0) return;
      onDecoding?.();
      start = performance.now();
    },
  });
  const seconds = (performance.now() - start) / 1000;
  // (Generation ends early only at a stop token, none here, or at the model's context.)
  if (generated.length !== tokens + 1) throw new GiftjsError(`timeDecoding: ${generated.length} tokens were generated of the ${tokens + 1} timed (the prompt's ${prompt.length} and these past the model's context of ${model.config.maxPositionEmbeddings}?)`);
  return { tokensPerSecond: tokens / seconds, prefillTokensPerSecond: prompt.length / ((start - begin) / 1000), generated };
}

/** Where a decoded token's time goes (gift bench generate --profile): the kernels' calls, timed, and the token's whole time. */
export interface DecodingProfile {
  tokens: number;
  /** The whole decoding's ms a token, timed around it (the kernels' timing included). */
  msPerToken: number;
  /** The GEMVs by shape and the other kernels, summed over the decoding (not a token). */
  groups: GemmCallGroup[];
  kernels: KernelCalls[];
}

/**
 * One more greedy generation of `tokens` after the prompt with every backend call timed from the
 * first new token on (the prompt's prefill runs untimed): the decoding's products by shape and the
 * rest of the kernels, and the token's time beside them. What neither holds is the op walk outside
 * the kernels (tensors, scopes, sampling).
 */
export function profileDecoding(model: CausalLM, prompt: number[], tokens: number): DecodingProfile {
  let decoding = false;
  const { result, groups, kernels } = timeBackendCalls(() => timeDecoding(model, prompt, tokens, () => (decoding = true)), () => decoding);
  return { tokens, msPerToken: 1000 / result.tokensPerSecond, groups, kernels };
}

/**
 * The profile as gift bench generate --profile prints it, per token: the GEMVs by shape (the `top`
 * slowest) with the bytes of weights each reads and its rate, their sum against the memory stream
 * (`streamGBs`, timed before, where known), the other kernels, and the time outside the kernels.
 */
export function decodingProfileTable(p: DecodingProfile, streamGBs: number | null, top = 8): string {
  const per = (x: number) => x / p.tokens;
  const share = (ms: number) => `${((100 * ms) / p.msPerToken).toFixed(1)}%`;
  const gemv = p.groups.reduce((s, g) => ({ calls: s.calls + g.calls, ms: s.ms + g.ms, bytes: s.bytes + g.bBytes }), { calls: 0, ms: 0, bytes: 0 });
  const others = p.kernels.reduce((s, k) => ({ calls: s.calls + k.calls, ms: s.ms + k.ms }), { calls: 0, ms: 0 });
  const rate = (bytes: number, ms: number) => (ms > 0 ? bytes / ms / 1e6 : 0); // GB/s
  const gemvRate = rate(gemv.bytes, gemv.ms);
  return [
    `decoding profile, ${p.tokens} tokens after the prompt with every kernel call timed: ${p.msPerToken.toFixed(2)} ms a token`,
    `  GEMVs by shape (M x N x K, transposes, B's storage), per token:`,
    ...p.groups.slice(0, top).map((g) =>
      `    ${g.shape.padEnd(30)}${per(g.calls).toFixed(0).padStart(5)} calls${per(g.ms).toFixed(2).padStart(8)} ms${(per(g.bBytes) / 1e6).toFixed(1).padStart(8)} MB${rate(g.bBytes, g.ms).toFixed(1).padStart(7)} GB/s`),
    `  all ${per(gemv.calls).toFixed(0)} GEMVs: ${per(gemv.ms).toFixed(2)} ms a token (${share(per(gemv.ms))}), ${(per(gemv.bytes) / 1e6).toFixed(0)} MB at ${gemvRate.toFixed(1)} GB/s` +
      (streamGBs ? ` = ${(gemvRate / streamGBs).toFixed(2)} of the memory stream timed before (${streamGBs.toFixed(1)} GB/s)` : ''),
    `  the other kernels: ${per(others.ms).toFixed(2)} ms a token (${share(per(others.ms))})` +
      (p.kernels.length > 0 ? `: ${p.kernels.slice(0, top).map((k) => `${k.kernel} ${per(k.ms).toFixed(2)} ms (${per(k.calls).toFixed(0)} calls)`).join(', ')}` : ''),
    `  outside the kernels (the op walk: tensors, scopes, sampling; and the timing of the ${per(gemv.calls + others.calls).toFixed(0)} calls): ` +
      `${(p.msPerToken - per(gemv.ms + others.ms)).toFixed(2)} ms a token (${share(p.msPerToken - per(gemv.ms + others.ms))})`,
  ].join('\n');
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

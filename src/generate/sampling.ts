// Choosing the next token from a row of logits: transformers' repetition penalty, then OpenAI's presence
// and frequency penalties (vLLM's order), then greedy, or sampling with temperature, top-k and top-p
// (nucleus), in that order, as Hugging Face's generate applies them.
import { argmax } from '../eval/metrics.js';
import type { Random } from '../tensor/random.js';
import { GiftjsError } from '../errors.js';

export interface SamplingOptions {
  /** 0 (the default) is greedy decoding. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = off). */
  topP?: number;
  /** Keep the tokens at least min_p times as likely as the most likely one (0 = off), after top-p. */
  minP?: number;
  /**
   * OpenAI's penalties on the tokens generated so far (not the prompt's), from -2 to 2, 0 (off) by
   * default: a token generated c times has its logit lowered by c * frequencyPenalty, plus
   * presencePenalty once if c > 0.
   */
  presencePenalty?: number;
  frequencyPenalty?: number;
  /**
   * transformers' repetition_penalty (CTRL's, as vLLM's too): every token of the text so far, prompt
   * and generated, has its logit divided by it where positive and multiplied by it where negative;
   * 1 (off) by default, above 0 (above 1 discourages repeats).
   */
  repetitionPenalty?: number;
}

export { argmax };

/**
 * Refuses options a caller from JavaScript can pass and the types do not stop, each of which had
 * chosen tokens silently: a NaN temperature (every probability NaN: the least likely token, always),
 * a fractional or negative top-k.
 */
export function checkSamplingOptions(options: SamplingOptions): void {
  const { temperature = 0, topK = 0, topP = 1, minP = 0, presencePenalty = 0, frequencyPenalty = 0, repetitionPenalty = 1 } = options;
  if (!(temperature >= 0 && Number.isFinite(temperature))) throw new GiftjsError(`temperature must be a finite number >= 0, got ${temperature}`);
  if (!(Number.isInteger(topK) && topK >= 0)) throw new GiftjsError(`top-k must be a whole number >= 0 (0: off), got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new GiftjsError(`top-p must be in (0, 1], got ${topP}`);
  if (!(minP >= 0 && minP <= 1)) throw new GiftjsError(`min-p must be in [0, 1] (0: off), got ${minP}`);
  if (!(presencePenalty >= -2 && presencePenalty <= 2)) throw new GiftjsError(`presence penalty must be from -2 to 2 (0: off), got ${presencePenalty}`);
  if (!(frequencyPenalty >= -2 && frequencyPenalty <= 2)) throw new GiftjsError(`frequency penalty must be from -2 to 2 (0: off), got ${frequencyPenalty}`);
  if (!(repetitionPenalty > 0 && Number.isFinite(repetitionPenalty))) throw new GiftjsError(`repetition penalty must be a finite number above 0 (1: off), got ${repetitionPenalty}`);
}

/**
 * The logits with the penalties applied: the repetition penalty over every token of the text so far
 * (`seen`: the prompt's and the generated), then the presence and frequency penalties over the tokens
 * generated (`counts`: token -> times generated); the logits themselves where none is set.
 */
export function penalizedLogits(logits: Float32Array, seen: ReadonlySet<number>, counts: ReadonlyMap<number, number>, options: SamplingOptions): Float32Array {
  const presence = options.presencePenalty ?? 0;
  const frequency = options.frequencyPenalty ?? 0;
  const repetition = options.repetitionPenalty ?? 1;
  const repeats = repetition !== 1 && seen.size > 0;
  const generatedPenalties = (presence !== 0 || frequency !== 0) && counts.size > 0;
  if (!repeats && !generatedPenalties) return logits;
  const out = Float32Array.from(logits);
  if (repeats) {
    // In float32, as transformers' processor computes it on float32 scores (the penalty a float32 scalar).
    const penalty = Math.fround(repetition);
    for (const token of seen) {
      const v = out[token]!;
      out[token] = v < 0 ? v * penalty : v / penalty;
    }
  }
  if (generatedPenalties) for (const [token, c] of counts) out[token] = out[token]! - c * frequency - presence;
  return out;
}

/** Refuses logits with a NaN or +Infinity, from which no distribution can be taken (-Infinity masks a token). */
export function refuseNonFiniteLogits(logits: ArrayLike<number>): void {
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (Number.isNaN(v) || v === Infinity) throw new GiftjsError(`the model's output holds ${v} (score ${i} of ${logits.length}): its weights or the adapter's are not finite`);
  }
}

export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, rng: Random): number {
  checkSamplingOptions(options);
  if ((options.temperature ?? 0) === 0) return argmax(logits);
  const { ids, weights, total } = samplingWeights(logits, options);
  let u = rng.uniform() * total;
  for (let i = 0; i < ids.length; i++) {
    u -= weights[i]!;
    if (u <= 0) return ids[i]!;
  }
  return ids[ids.length - 1]!;
}

/**
 * The tokens sampling may draw, most likely first, with unnormalised weights (their sum `total`):
 * temperature, then top-k, then top-p, then min-p, as transformers' warpers. Top-k keeps every token
 * tied with the k-th (transformers keeps each score >= the k-th largest); top-p keeps the most likely
 * tokens until their share reaches p; min-p keeps those at least min_p times as likely as the first.
 */
export function samplingWeights(logits: ArrayLike<number>, options: SamplingOptions): { ids: number[]; weights: number[]; total: number } {
  const temperature = options.temperature ?? 0;
  if (!(temperature > 0)) throw new GiftjsError(`samplingWeights: the temperature must be above 0 (0 is greedy), got ${temperature}`);
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  // A NaN or +Infinity logit makes every probability NaN (exp(inf - inf)), and the draw below would
  // end on the last candidate whatever the model said: reported as argmax reports a NaN.
  refuseNonFiniteLogits(logits);
  // Candidates sorted by logit, most likely first.
  let ids = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]!);
  if (topK > 0 && topK < ids.length) {
    const kth = logits[ids[topK - 1]!]!;
    let keep = topK;
    while (keep < ids.length && logits[ids[keep]!] === kth) keep++;
    ids = ids.slice(0, keep);
  }
  // Every logit -Infinity (all masked): no distribution to draw from (exp(-inf + inf) is NaN).
  if (ids.length === 0 || logits[ids[0]!] === -Infinity) throw new GiftjsError(`sampling: every one of the ${logits.length} tokens has a logit of -Infinity; there is nothing to draw from`);
  const max = logits[ids[0]!]! / temperature;
  let weights = ids.map((i) => Math.exp(logits[i]! / temperature - max));
  let total = weights.reduce((a, b) => a + b, 0);
  if (topP < 1) {
    let cumulative = 0;
    let keep = 0;
    while (keep < weights.length) {
      cumulative += weights[keep]! / total;
      keep++;
      if (cumulative >= topP) break;
    }
    ids = ids.slice(0, keep);
    weights = weights.slice(0, keep);
    total = weights.reduce((a, b) => a + b, 0);
  }
  const minP = options.minP ?? 0;
  if (minP > 0) {
    // The first token's weight is exp(0) = 1, so "at least min_p times its probability" is weight >= min_p.
    let keep = 1;
    while (keep < weights.length && weights[keep]! >= minP) keep++;
    ids = ids.slice(0, keep);
    weights = weights.slice(0, keep);
    total = weights.reduce((a, b) => a + b, 0);
  }
  return { ids, weights, total };
}

// Log-probabilities of a step's tokens, as OpenAI's API reports them (logprobs, top_logprobs): the
// model's own distribution, log-softmax of its logits before penalties and temperature.
import { refuseNonFiniteLogits } from './sampling.js';

export interface TokenLogprob {
  token: number;
  logprob: number;
}

/** A step's log-probabilities: the chosen token's, and the most likely tokens' (most likely first). */
export interface StepLogprobs {
  logprob: number;
  top: TokenLogprob[];
}

/** The chosen token's log-probability under the logits, and the `top` most likely tokens'. */
export function logprobsOf(logits: ArrayLike<number>, chosen: number, top: number): StepLogprobs {
  // (A NaN or +Infinity logit had made every log-probability NaN, reported as null.)
  refuseNonFiniteLogits(logits);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const logZ = max + Math.log(sum);
  // The `top` best in one pass, kept sorted (most likely first; the earlier token on a tie).
  const best: number[] = [];
  const count = Math.min(top, logits.length);
  for (let i = 0; i < logits.length && count > 0; i++) {
    if (best.length === count && !(logits[i]! > logits[best[count - 1]!]!)) continue;
    // Into the last place (a new one, or the one of the least of a full list), then up past the smaller.
    let at = Math.min(best.length, count - 1);
    for (; at > 0 && logits[i]! > logits[best[at - 1]!]!; at--) best[at] = best[at - 1]!;
    best[at] = i;
  }
  return { logprob: logits[chosen]! - logZ, top: best.map((token) => ({ token, logprob: logits[token]! - logZ })) };
}

// Log-probabilities of a step's tokens, as OpenAI's API reports them (logprobs, top_logprobs): the
// model's own distribution, log-softmax of its logits before penalties and temperature.

export interface TokenLogprob {
  token: number;
  logprob: number;
}

/** The chosen token's log-probability under the logits, and the `top` most likely tokens' (most likely first). */
export function logprobsOf(logits: ArrayLike<number>, chosen: number, top: number): { logprob: number; top: TokenLogprob[] } {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const logZ = max + Math.log(sum);
  // The top few by selection: each pass takes the largest not yet taken (top is at most 20).
  const best: TokenLogprob[] = [];
  const taken = new Set<number>();
  for (let k = 0; k < Math.min(top, logits.length); k++) {
    let arg = -1;
    for (let i = 0; i < logits.length; i++) if (!taken.has(i) && (arg < 0 || logits[i]! > logits[arg]!)) arg = i;
    taken.add(arg);
    best.push({ token: arg, logprob: logits[arg]! - logZ });
  }
  return { logprob: logits[chosen]! - logZ, top: best };
}

// Language-modelling loss and perplexity: the mean next-token cross-entropy over every predicted
// token of every text (token-weighted), each text tokenized as Hugging Face's tokenizer(text).
import { GiftjsError } from '../errors.js';
import type { Tokenizer } from '../io/tokenizer.js';
import type { LlamaForCausalLM } from '../models/llama/model.js';
import { shiftLabels } from '../models/llama/model.js';
import { crossEntropy } from '../ops/cross_entropy.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/memory.js';

export interface PerplexityResult {
  loss: number;
  perplexity: number;
  /** Predicted tokens (each text contributes its length minus one). */
  tokens: number;
  texts: number;
  /** Texts cut to maxLength tokens. */
  truncated: number;
}

export function evaluatePerplexity(model: LlamaForCausalLM, tokenizer: Tokenizer, texts: readonly string[], maxLength: number): PerplexityResult {
  let total = 0;
  let tokens = 0;
  let truncated = 0;
  for (const text of texts) {
    let ids = tokenizer.encode(text);
    if (ids.length > maxLength) {
      ids = ids.slice(0, maxLength);
      truncated++;
    }
    if (ids.length < 2) continue;
    total += tidy(() => noGrad(() => crossEntropy(model.forward(ids, 1, ids.length), shiftLabels(ids, 1, ids.length), { reduction: 'sum' }).item()));
    tokens += ids.length - 1;
  }
  if (tokens === 0) throw new GiftjsError(`nothing to evaluate: ${texts.length} texts, none with two or more tokens`);
  const loss = total / tokens;
  return { loss, perplexity: Math.exp(loss), tokens, texts: texts.length, truncated };
}

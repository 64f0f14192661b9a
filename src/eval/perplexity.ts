// Language-modelling loss and perplexity: the mean next-token cross-entropy over every target token
// of every example (token-weighted). The examples are what gift train builds from the same file
// (data/example_file.ts), and the loss is computed as its held-out loss is, so the two agree.
import { GiftjsError } from '../errors.js';
import type { Example } from '../data/examples.js';
import type { CausalLM } from '../models/causal_lm.js';
import { taskHeldOutLoss } from '../train/task.js';
import { causalLMTask } from '../train/tasks/causal_lm.js';

export interface PerplexityResult {
  loss: number;
  perplexity: number;
  /** Target tokens predicted (after the shift). */
  tokens: number;
  examples: number;
}

export async function evaluatePerplexity(model: CausalLM, examples: Example[], padId: number, batchSize = 8): Promise<PerplexityResult> {
  if (examples.length === 0) throw new GiftjsError('nothing to evaluate: no examples with a target token');
  const { loss, units } = await taskHeldOutLoss(causalLMTask(model, [], examples, padId), batchSize);
  return { loss, perplexity: Math.exp(loss), tokens: units, examples: examples.length };
}

// Generation tasks scored the paper's way: greedy decoding from the task's prompt template, then
// answer extraction (src/eval/answers.ts). Every prediction is returned so it can be audited.
import type { DataRecord } from '../data/examples.js';
import { alpacaPrompt, commonsensePrompt } from '../data/prompts.js';
import { generate } from '../generate/generate.js';
import type { Tokenizer } from '../io/tokenizer.js';
import type { CausalLM } from '../models/causal_lm.js';
import { extractCommonsenseAnswer, isCommonsenseCorrect, mathGold, scoreMath } from './answers.js';
import { GiftjsError } from '../errors.js';

export type GenerationTask = 'commonsense' | 'math';

export interface Prediction {
  where: string;
  generation: string;
  extracted: string | number | null;
  answer: string;
  correct: boolean;
}

export interface TaskResult {
  task: GenerationTask;
  accuracy: number;
  correct: number;
  total: number;
  predictions: Prediction[];
}

/** The paper's limits on new tokens: 32 for commonsense, 512 for math. */
export const MAX_NEW_TOKENS: Record<GenerationTask, number> = { commonsense: 32, math: 512 };

/**
 * A record's prompt as the model reads it (the paper's template, as token ids) and its gold answer;
 * a record without string "instruction" and "answer" fields is refused by its place in the file.
 */
export function taskPrompt(tok: Tokenizer, r: DataRecord, task: GenerationTask): { ids: number[]; answer: string } {
  const instruction = r.value.instruction;
  const answer = r.value.answer;
  if (typeof instruction !== 'string' || typeof answer !== 'string') throw new GiftjsError(`${r.where}: expected string "instruction" and "answer" fields (LLM-Adapters format)`);
  const prompt = task === 'commonsense' ? commonsensePrompt(instruction) : alpacaPrompt(instruction);
  // A prompt's trailing spaces ("the correct answer is ") are left to the generated text: in
  // training they were merged into the answer's first token, so a lone space token at the end
  // of the prompt is something the model has never seen.
  return { ids: tok.encode(prompt.replace(/ +$/, '')), answer };
}

export function evaluateGenerationTask(model: CausalLM, tok: Tokenizer, records: DataRecord[], task: GenerationTask, maxNewTokens = MAX_NEW_TOKENS[task], onPrediction?: (p: Prediction, i: number) => void): TaskResult {
  const stops = [...model.config.eosTokenIds];
  if (tok.eosTokenId !== null) stops.push(tok.eosTokenId);
  const predictions: Prediction[] = [];
  // Every record's prompt and gold answer are read before the first generation: a record that
  // cannot be scored is refused at once, not after hours of decoding the ones before it.
  const prompts = records.map((r) => {
    const prompt = taskPrompt(tok, r, task);
    if (task === 'math') mathGold(prompt.answer, r.where);
    return prompt;
  });
  records.forEach((r, i) => {
    const { ids, answer } = prompts[i]!;
    const room = Math.max(1, Math.min(maxNewTokens, model.config.maxPositionEmbeddings - ids.length));
    const out = generate(model, ids, { maxNewTokens: room, stopTokens: stops });
    const generation = tok.decode(out);
    // The reference scores the whole decoded sequence (prompt and generation) after its first trigger.
    const decoded = tok.decode([...ids, ...out]);
    const p: Prediction = task === 'commonsense'
      ? { where: r.where, generation, extracted: extractCommonsenseAnswer(decoded), answer, correct: isCommonsenseCorrect(decoded, answer) }
      : { where: r.where, generation, answer, ...scoreMath(decoded, answer, r.where) };
    predictions.push(p);
    onPrediction?.(p, i);
  });
  const correct = predictions.filter((p) => p.correct).length;
  return { task, accuracy: predictions.length ? correct / predictions.length : NaN, correct, total: predictions.length, predictions };
}

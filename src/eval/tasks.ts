// Generation tasks scored the paper's way: greedy decoding from the task's prompt template, then
// answer extraction (src/eval/answers.ts). Every prediction is returned so it can be audited.
import type { DataRecord } from '../data/examples.js';
import { alpacaPrompt, commonsensePrompt } from '../data/prompts.js';
import { generate } from '../generate/generate.js';
import type { Tokenizer } from '../io/tokenizer.js';
import type { CausalLM } from '../models/causal_lm.js';
import { extractCommonsenseAnswer, extractMathNumber, extractOptionLetter, isCommonsenseCorrect, isMathCorrect } from './answers.js';
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
  records.forEach((r, i) => {
    const { ids, answer } = taskPrompt(tok, r, task);
    const room = Math.max(1, Math.min(maxNewTokens, model.config.maxPositionEmbeddings - ids.length));
    const out = generate(model, ids, { maxNewTokens: room, stopTokens: stops });
    const generation = tok.decode(out);
    let p: Prediction;
    if (task === 'commonsense') {
      const full = tok.decode([...ids, ...out]);
      p = { where: r.where, generation, extracted: extractCommonsenseAnswer(full), answer, correct: isCommonsenseCorrect(full, answer) };
    } else if (/^[A-E]$/.test(answer.trim())) {
      const letter = extractOptionLetter(generation);
      p = { where: r.where, generation, extracted: letter, answer, correct: letter === answer.trim() };
    } else {
      p = { where: r.where, generation, extracted: extractMathNumber(generation), answer, correct: isMathCorrect(generation, answer) };
    }
    predictions.push(p);
    onPrediction?.(p, i);
  });
  const correct = predictions.filter((p) => p.correct).length;
  return { task, accuracy: predictions.length ? correct / predictions.length : NaN, correct, total: predictions.length, predictions };
}

// Answer extraction as the paper's evaluation code does it (the paper's protocols).
import { COMMONSENSE_TRIGGER } from '../data/prompts.js';
import { GiftjsError } from '../errors.js';

/** The text after the last occurrence of a trigger (the whole text when it is absent). */
function after(text: string, trigger: string): string {
  const i = text.lastIndexOf(trigger);
  return i < 0 ? text : text.slice(i + trigger.length);
}

/** Commonsense: the text after "the correct answer is ", stripped; it must equal the answer. */
export function extractCommonsenseAnswer(generation: string): string {
  return after(generation, COMMONSENSE_TRIGGER).trim();
}

export function isCommonsenseCorrect(generation: string, answer: string): boolean {
  return extractCommonsenseAnswer(generation) === answer;
}

export const MATH_TRIGGER = '### Response:';

/** Numeric math answers: commas removed, the LAST number in the response; null when none. */
export function extractMathNumber(generation: string): number | null {
  const text = after(generation, MATH_TRIGGER).replace(/,/g, '');
  const matches = text.match(/-?\d+\.?\d*/g);
  if (!matches) return null;
  const v = Number.parseFloat(matches[matches.length - 1]!);
  return Number.isFinite(v) ? v : null;
}

export function isMathCorrect(generation: string, answer: string | number): boolean {
  const pred = extractMathNumber(generation);
  const gold = typeof answer === 'number' ? answer : Number.parseFloat(String(answer).replace(/,/g, ''));
  return pred !== null && Math.abs(pred - gold) <= 0.001;
}

/** AQuA: the FIRST of the letters A-E in the stripped response; null when none. */
export function extractOptionLetter(generation: string): string | null {
  const m = /[A-E]/.exec(after(generation, MATH_TRIGGER).trim());
  return m ? m[0] : null;
}

/** GSM8K's original answers end in "#### <number>": that number (commas removed). */
export function gsm8kGoldNumber(answer: string): number {
  const i = answer.lastIndexOf('####');
  if (i < 0) throw new GiftjsError(`not a GSM8K answer (no "####"): ${answer.slice(0, 60)}`);
  return Number.parseFloat(answer.slice(i + 4).trim().replace(/,/g, ''));
}

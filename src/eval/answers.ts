// Answer extraction and scoring as the paper's evaluation code does it (the paper's protocols, which
// follow LoReFT's compute_metrics.py and LLM-Adapters' evaluate.py). Both read the WHOLE decoded
// sequence, prompt and generation, and take the text after the FIRST occurrence of the task's
// trigger -- the prompt's own, so the response is all of the generation: a model that writes the
// trigger again ("true. the correct answer is false") is scored on everything it wrote, not on
// what follows its last trigger.
import { COMMONSENSE_TRIGGER } from '../data/prompts.js';
import { GiftjsError } from '../errors.js';

export const MATH_TRIGGER = '### Response:';

/** The text after the first `trigger` in a decoded prompt and generation, left-stripped; '' when it is absent. */
export function responseAfterTrigger(decoded: string, trigger: string): string {
  const i = decoded.indexOf(trigger);
  return i < 0 ? '' : decoded.slice(i + trigger.length).trimStart();
}

/** Commonsense: the response, stripped. */
export function extractCommonsenseAnswer(decoded: string): string {
  return responseAfterTrigger(decoded, COMMONSENSE_TRIGGER).trim();
}

/** Correct when the stripped response equals the stripped answer. */
export function isCommonsenseCorrect(decoded: string, answer: string): boolean {
  return extractCommonsenseAnswer(decoded) === answer.trim();
}

/** Numeric math answers: commas removed, the LAST number in a response; null when none. */
export function extractMathNumber(response: string): number | null {
  const matches = response.replace(/,/g, '').match(/-?\d+\.?\d*/g);
  if (!matches) return null;
  const v = Number.parseFloat(matches[matches.length - 1]!);
  return Number.isFinite(v) ? v : null;
}

/** AQuA: the FIRST of the letters A-E in a stripped response; null when none. */
export function extractOptionLetter(response: string): string | null {
  const m = /[A-E]/.exec(response.trim());
  return m ? m[0] : null;
}

// Python's float() syntax (what the reference's is_float accepts) in ASCII digits: digits with single
// underscores between them, an optional fraction and exponent, surrounding whitespace. (Checked
// against Python on 3,000 random strings; only its other scripts' digits, "١٢", are refused here.)
const DIGITS = '\\d(?:_?\\d)*';
const PYTHON_FLOAT = new RegExp(`^\\s*[+-]?(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:[eE][+-]?${DIGITS})?\\s*$`);

/**
 * How a math record's gold answer is scored: a number (as Python's float() reads it) against the
 * response's last number, or a letter A-E (AQuA) against its first. The reference scores any other
 * answer as a letter, which no response can equal ("1/2", "1,000", "nan"): such a record is refused
 * by its place in the file rather than counted wrong whatever the model says.
 */
export function mathGold(answer: string, where: string): { kind: 'number'; value: number } | { kind: 'letter'; value: string } {
  if (PYTHON_FLOAT.test(answer)) {
    const value = Number(answer.trim().replace(/_/g, ''));
    if (Number.isFinite(value)) return { kind: 'number', value };
  }
  const letter = answer.trim();
  if (/^[A-E]$/.test(letter)) return { kind: 'letter', value: letter };
  throw new GiftjsError(`${where}: "answer" ${JSON.stringify(answer.length > 60 ? `${answer.slice(0, 60)}...` : answer)} is neither a finite number (as Python's float() reads one) nor one of the letters A-E, so no response could be scored correct against it`);
}

/** A math response's extracted answer and whether it matches the gold (numbers within 0.001). */
export function scoreMath(decoded: string, answer: string, where: string): { extracted: number | string | null; correct: boolean } {
  const gold = mathGold(answer, where);
  const response = responseAfterTrigger(decoded, MATH_TRIGGER);
  if (gold.kind === 'letter') {
    const letter = extractOptionLetter(response);
    return { extracted: letter, correct: letter === gold.value };
  }
  const pred = extractMathNumber(response);
  return { extracted: pred, correct: pred !== null && Math.abs(pred - gold.value) <= 0.001 };
}

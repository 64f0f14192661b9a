// Answer extraction on real examples from ../shared/data: the gold responses must score as
// correct, and altered ones as wrong, exactly as the paper's evaluation code decides (LoReFT's
// compute_metrics.py: extract_output takes the text after the FIRST trigger of the whole decoded
// sequence, then extract_answer_number / extract_answer_letter / an exact match).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { alpacaPrompt, commonsensePrompt } from '../../src/data/prompts.js';
import { extractCommonsenseAnswer, extractMathNumber, extractOptionLetter, isCommonsenseCorrect, mathGold, responseAfterTrigger, scoreMath } from '../../src/eval/answers.js';
import { GiftjsError } from '../../src/errors.js';
import { needsShared, SHARED_DIR } from '../helpers.js';

const data = (p: string) => JSON.parse(readFileSync(join(SHARED_DIR, 'data', p), 'utf8')) as Record<string, string>[];
const skip = needsShared('data');

/** What the scorer reads: the decoded prompt and generation together. */
const mathDecoded = (response: string) => `${alpacaPrompt('How many apples?')}${response}`;
const isMathCorrect = (response: string, answer: string) => scoreMath(mathDecoded(response), answer, 'test.json[0]').correct;

test('math: the last number of each response in math_data.json, as the paper code reads it', { skip }, () => {
  const rows = data('math/math_data.json');
  // Responses that end "The answer is <n>." must yield n (read here by a different pattern).
  let checked = 0;
  for (const r of rows) {
    const m = /The answer is \$?(-?[\d,]+(?:\.\d+)?)\.?\s*$/.exec(r.output!);
    if (!m) continue;
    checked++;
    assert.equal(extractMathNumber(r.output!), Number.parseFloat(m[1]!.replace(/,/g, '')), r.output!.slice(-80));
  }
  assert.ok(checked > 2000, `${checked} responses checked`);
  // math_data.json's rationales were written by a model and are sometimes wrong; the extraction
  // then scores them wrong, as it should: "... $24,000 + $12,000 = $36,000. The answer is $36,000." vs 276000.
  const wrong = rows.find((r) => r.output!.endsWith('The answer is $36,000.'))!;
  assert.equal(wrong.answer, '276000.0');
  assert.equal(isMathCorrect(wrong.output!, wrong.answer!), false);
  assert.equal(isMathCorrect(rows[0]!.output!, rows[0]!.answer!), true);
  assert.equal(extractMathNumber('\nA: She played with 16 kids on Monday ... 16 - 12 = 4 kids. The answer is 4.'), 4);
  assert.equal(extractMathNumber('It costs $1,234.50 in total, not 12.'), 12);
  assert.equal(extractMathNumber('The total is 1,234.50'), 1234.5);
  assert.equal(extractMathNumber('no digits here'), null);
  assert.equal(isMathCorrect('The answer is -3.0004', '-3'), true);
  assert.equal(isMathCorrect('The answer is -3.002', '-3'), false);
  assert.equal(isMathCorrect('I do not know', '7'), false);
});

test('AQuA: the first option letter of the response', { skip }, () => {
  const rows = data('math/AQuA/test.json');
  assert.ok(rows.length === 254 && /^[A-E]$/.test(rows[0]!.answer!));
  assert.equal(extractOptionLetter(` ${rows[0]!.answer} is right because (B) is too small`), rows[0]!.answer);
  assert.equal(extractOptionLetter(' the answer: (c) lowercase ignored, then D'), 'D');
  assert.equal(extractOptionLetter(' none'), null);
  assert.deepEqual(scoreMath(mathDecoded(`\n${rows[0]!.answer} is right`), ` ${rows[0]!.answer}\n`, 'AQuA/test.json[0]'), { extracted: rows[0]!.answer, correct: true });
  // The prompt's own letters (the instruction's options) come before the trigger and are never read.
  assert.equal(scoreMath(`${alpacaPrompt('Pick one: A) 1 B) 2')}none of them`, 'A', 'AQuA/test.json[0]').correct, false);
});

test('GSM8K: each worked answer scores correct against the number after its ####', { skip }, () => {
  const lines = readFileSync(join(SHARED_DIR, 'data/math/gsm8k-openai/test.jsonl'), 'utf8').trim().split('\n').slice(0, 50);
  for (const l of lines) {
    const { answer } = JSON.parse(l) as { answer: string };
    const gold = answer.slice(answer.lastIndexOf('####') + 4).trim().replace(/,/g, '');
    assert.match(gold, /^-?\d+$/);
    assert.equal(isMathCorrect(answer.replace('####', 'The final answer is: '), gold), true);
    assert.equal(isMathCorrect(answer.replace('####', 'The final answer is: ').replace(/\d+\s*$/, '0.5'), gold), false);
  }
});

test('commonsense: the text after the trigger must equal the answer exactly', { skip }, () => {
  for (const set of ['boolq', 'piqa', 'social_i_qa', 'winogrande', 'ARC-Easy', 'ARC-Challenge', 'openbookqa']) {
    const rows = data(`commonsense/${set}/test.json`).slice(0, 20);
    for (const r of rows) {
      const generation = `${commonsensePrompt(r.instruction!)}${r.answer} `;
      assert.equal(isCommonsenseCorrect(generation, r.answer!), true, `${set}: ${r.answer}`);
      assert.equal(isCommonsenseCorrect(`${commonsensePrompt(r.instruction!)}${r.answer}.`, r.answer!), false, 'trailing text is wrong');
    }
  }
  assert.equal(extractCommonsenseAnswer('the correct answer is   solution2\n'), 'solution2');
});

test('the response is all of the generation: the text after the FIRST trigger, the prompt\'s (before, a repeated trigger was read from its last)', () => {
  const prompt = commonsensePrompt('Please answer the following question with true or false.');
  // A model that writes the trigger again is scored on everything it wrote, as the reference does.
  assert.equal(extractCommonsenseAnswer(`${prompt}true. the correct answer is false`), 'true. the correct answer is false');
  assert.equal(isCommonsenseCorrect(`${prompt}true. the correct answer is false`, 'false'), false);
  assert.equal(isCommonsenseCorrect(`${prompt}  false \n`, ' false'), true, 'both sides stripped');
  // No trigger at all (a prompt cut short): an empty response, wrong whatever the answer.
  assert.equal(responseAfterTrigger('no trigger here', 'the correct answer is '), '');
  assert.equal(isCommonsenseCorrect('true', 'true'), false);
  // Math: the last number of the whole generation, even where the model wrote the trigger again
  // and nothing numeric after it (before: no number, scored wrong).
  assert.deepEqual(scoreMath(mathDecoded('It is 42.\n\n### Instruction:\nMore?\n\n### Response:\nNo.'), '42', 'x'), { extracted: 42, correct: true });
  assert.deepEqual(scoreMath(mathDecoded('42, then ### Response: 7'), '42', 'x'), { extracted: 7, correct: false });
});

test('a math gold answer is a number as Python\'s float() reads it, or a letter A-E; any other is refused by its record', () => {
  assert.deepEqual(mathGold(' 18.0\n', 'r'), { kind: 'number', value: 18 });
  assert.deepEqual(mathGold('1_000', 'r'), { kind: 'number', value: 1000 });
  assert.deepEqual(mathGold('-.5e1', 'r'), { kind: 'number', value: -5 });
  assert.deepEqual(mathGold('+7.', 'r'), { kind: 'number', value: 7 });
  assert.deepEqual(mathGold(' C ', 'r'), { kind: 'letter', value: 'C' });
  // parseFloat reads these as 1, 1 and 12, and scored a response of 1 or 12 correct.
  for (const bad of ['1/2', '1,000', '12 apples', 'nan', 'inf', '', 'F', '1__0', '_1', '0x10']) {
    assert.throws(() => mathGold(bad, 'SVAMP/test.json[3]'), (e: unknown) => e instanceof GiftjsError && /^SVAMP\/test\.json\[3\]: "answer" .* is neither a finite number/.test(e.message), bad);
  }
  assert.equal(isMathCorrect('The answer is 1.', '1'), true);
  assert.equal(isMathCorrect('The answer is 0.9995', '1'), true);
  assert.equal(isMathCorrect('The answer is 0.998', '1'), false);
});

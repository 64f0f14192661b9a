// Answer extraction on real examples from ../shared/data: the gold responses must score as
// correct, and altered ones as wrong, exactly as the paper's evaluation code decides.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { commonsensePrompt } from '../../src/data/prompts.js';
import { extractCommonsenseAnswer, extractMathNumber, extractOptionLetter, gsm8kGoldNumber, isCommonsenseCorrect, isMathCorrect } from '../../src/eval/answers.js';
import { needsShared, SHARED_DIR } from '../helpers.js';

const data = (p: string) => JSON.parse(readFileSync(join(SHARED_DIR, 'data', p), 'utf8')) as Record<string, string>[];
const skip = needsShared('data');

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
  assert.equal(extractMathNumber('### Response:\nIt costs $1,234.50 in total, not 12.'), 12);
  assert.equal(extractMathNumber('### Response:\nThe total is 1,234.50'), 1234.5);
  assert.equal(extractMathNumber('no digits here'), null);
  assert.equal(isMathCorrect('The answer is -3.0004', '-3'), true);
  assert.equal(isMathCorrect('The answer is -3.002', '-3'), false);
  assert.equal(isMathCorrect('I do not know', '7'), false);
});

test('AQuA: the first option letter of the response', { skip }, () => {
  const rows = data('math/AQuA/test.json');
  assert.ok(rows.length === 254 && /^[A-E]$/.test(rows[0]!.answer!));
  assert.equal(extractOptionLetter(`### Response:\n ${rows[0]!.answer} is right because (B) is too small`), rows[0]!.answer);
  assert.equal(extractOptionLetter('### Response:\n the answer: (c) lowercase ignored, then D'), 'D');
  assert.equal(extractOptionLetter('### Response:\n none'), null);
});

test('GSM8K: the gold number follows ####', { skip }, () => {
  const lines = readFileSync(join(SHARED_DIR, 'data/math/gsm8k-openai/test.jsonl'), 'utf8').trim().split('\n').slice(0, 50);
  for (const l of lines) {
    const { answer } = JSON.parse(l) as { answer: string };
    const gold = gsm8kGoldNumber(answer);
    assert.ok(Number.isFinite(gold));
    assert.equal(isMathCorrect(answer.replace('####', 'The final answer is: '), gold), true);
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

// The generation-task evaluator on the real stories260K: the paper's prompt, greedy decoding,
// extraction, and an auditable prediction per record.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readRecords } from '../../src/data/examples.js';
import { extractMathNumber } from '../../src/eval/answers.js';
import { evaluateGenerationTask } from '../../src/eval/tasks.js';
import { convertLlama2c } from '../../src/io/llama2c.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { SHARED_DIR, needsShared, sharedFile } from '../helpers.js';

const SHARED = SHARED_DIR;
const BIN = sharedFile('models/stories260K/stories260K.bin');
const skip = needsShared('models/stories260K/stories260K.bin');

test('commonsense and math evaluation produce one scored, auditable prediction per record', { skip }, () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'giftjs-task-')), 'm');
  convertLlama2c(BIN, sharedFile('models/stories260K/tok512.bin'), dir);
  const model = LlamaForCausalLM.fromPretrained(dir);
  const tok = Tokenizer.fromFolder(dir);
  const arc = readRecords(join(SHARED, 'data/commonsense/ARC-Easy/test.json')).slice(0, 3);
  const cs = evaluateGenerationTask(model, tok, arc, 'commonsense');
  assert.equal(cs.total, 3);
  cs.predictions.forEach((p, i) => {
    assert.equal(p.answer, arc[i]!.value.answer);
    assert.equal(p.correct, p.extracted === p.answer);
    assert.ok(p.generation.length > 0);
  });
  const svamp = readRecords(join(SHARED, 'data/math/SVAMP/test.json')).slice(0, 2);
  const math = evaluateGenerationTask(model, tok, svamp, 'math', 24);
  assert.equal(math.total, 2);
  for (const p of math.predictions) assert.equal(p.extracted, extractMathNumber(p.generation));
  assert.equal(math.accuracy, math.correct / 2);
});

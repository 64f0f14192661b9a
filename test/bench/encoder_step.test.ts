// The encoder step benchmarks (BERT-base sequence classification, ViT-B/16) run a real training step:
// the loss is the cross-entropy of a fresh N(0, 0.02) head, whose logits are small, so it lies
// within 1 of ln(labels) (NaN or a broken head would not), and what they do not time is refused by name. Speeds are printed by `gift bench step`, never asserted here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { benchBertStep, benchVitStep } from '../../src/bench/step.js';

const GIFT = fileURLToPath(new URL('../../../bin/gift.js', import.meta.url));

test('the BERT-base step trains GIFT on query,value and the head; its loss is near ln 2', () => {
  const r = benchBertStep(2, 16, 32, 1, 1);
  assert.ok(Math.abs(r.loss - Math.log(2)) < 1, `loss ${r.loss}`);
  assert.ok(r.sequencesPerSecond > 0 && Number.isFinite(r.sequencesPerSecond));
  assert.equal(r.tokensPerSecond, r.sequencesPerSecond * 16);
});

test('the ViT-B/16 step trains GIFT on the attention output and the head; its loss is near ln 1000', () => {
  const r = benchVitStep(1, 16, 1, 1);
  assert.ok(Math.abs(r.loss - Math.log(1000)) < 1, `loss ${r.loss}`);
});

test('bench step --shape bert-base refuses LoRA and non-float32 weights by name', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [GIFT, 'bench', 'step', '--shape', 'bert-base', '--layers', '1', ...args], { encoding: 'utf8' });
  const lora = run('--method', 'lora');
  assert.notEqual(lora.status, 0);
  assert.match(lora.stderr, /--shape bert-base times the GIFT step .*not --method lora/);
  const bf16 = run('--dtype', 'bf16');
  assert.notEqual(bf16.status, 0);
  assert.match(bf16.stderr, /--shape bert-base keeps float32 weights.*--dtype bf16/);
});

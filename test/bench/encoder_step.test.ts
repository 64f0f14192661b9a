// The encoder step benchmarks (BERT-base sequence classification, ViT-B/16, USE Lite as npm run demo trains it) run a real training step:
// the loss is the cross-entropy of a fresh N(0, 0.02) head, whose logits are small, so it lies
// within 1 of ln(labels) (NaN or a broken head would not), and what they do not time is refused by name. Speeds are printed by `gift bench step`, never asserted here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { benchBertStep, benchUseLiteStep, benchVitStep } from '../../src/bench/step.js';
import { getBackend } from '../../src/backend/index.js';
import { availableMemory } from '../../src/io/system_memory.js';

const GIFT = fileURLToPath(new URL('../../../bin/gift.js', import.meta.url));

test('the BERT-base step trains GIFT on query,value and the head; its loss is near ln 2', () => {
  const r = benchBertStep(2, 16, 32, 1, 1);
  assert.ok(Math.abs(r.loss - Math.log(2)) < 1, `loss ${r.loss}`);
  assert.ok(r.sequencesPerSecond > 0 && Number.isFinite(r.sequencesPerSecond));
  assert.equal(r.tokensPerSecond, r.sequencesPerSecond * 16);
});

test('the USE Lite step (npm run demo\'s) trains GIFT on query,value and the head; its loss is near ln 2, and past 128 tokens it is refused', () => {
  const r = benchUseLiteStep(2, 16, 16, 1, 1);
  assert.ok(Math.abs(r.loss - Math.log(2)) < 1, `loss ${r.loss}`);
  assert.ok(r.sequencesPerSecond > 0 && Number.isFinite(r.sequencesPerSecond));
  assert.equal(r.tokensPerSecond, r.sequencesPerSecond * 16);
  assert.throws(() => benchUseLiteStep(1, 129, 16, 1, 1), /--seq 129: --shape use-lite reads at most 128 tokens/);
});

test('the ViT-B/16 step trains GIFT on the attention output and the head; its loss is near ln 1000', () => {
  const r = benchVitStep(1, 16, 1, 1);
  assert.ok(Math.abs(r.loss - Math.log(1000)) < 1, `loss ${r.loss}`);
});

test('with --bf16-compute the encoder steps multiply in bf16: the same step, its loss moved only by the rounding', () => {
  if (!getBackend().setBf16Compute) {
    console.log(`backend ${getBackend().name} has no bf16 dot products: the encoders' bf16 step is not checked here`);
    return;
  }
  const f32 = benchBertStep(2, 16, 32, 1, 1);
  const bf16 = benchBertStep(2, 16, 32, 1, 1, false, true);
  assert.notEqual(bf16.loss, f32.loss, 'the bf16 products did not act');
  assert.ok(Math.abs(bf16.loss - f32.loss) < 0.02, `bf16 loss ${bf16.loss} against ${f32.loss}`);
  const vit = benchVitStep(1, 16, 1, 1, false, true);
  assert.ok(Math.abs(vit.loss - Math.log(1000)) < 1, `loss ${vit.loss}`);
  // bf16 compute is off again after the step.
  assert.equal(benchBertStep(2, 16, 32, 1, 1).loss, f32.loss);
});

test('bench step on the encoder shapes refuses the causal-LM options by name instead of ignoring them', () => {
  const run = (shape: string, ...args: string[]) => spawnSync(process.execPath, [GIFT, 'bench', 'step', '--shape', shape, '--layers', '1', ...args], { encoding: 'utf8' });
  for (const shape of ['bert-base', 'vit-b16', 'use-lite']) {
    const cases: [string[], RegExp][] = [
      [['--method', 'lora'], new RegExp(`--shape ${shape} times the GIFT step .*not --method lora`)],
      [['--dtype', 'bf16'], new RegExp(`--shape ${shape} keeps float32 weights.*--dtype bf16`)],
      [['--checkpointing'], new RegExp(`--checkpointing is for the causal-LM shapes, not --shape ${shape}`)],
      [['--vs-f32'], new RegExp(`--vs-f32 is for the causal-LM shapes, not --shape ${shape}`)],
    ];
    for (const [args, message] of cases) {
      const r = run(shape, ...args);
      assert.notEqual(r.status, 0, `${shape} ${args.join(' ')}`);
      assert.match(r.stderr, message);
    }
  }
  const unknown = run('bert-large');
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /unknown --shape 'bert-large' \(available for bench step: smollm2-135m, llama-3.2-1b, llama-3-8b, vit-b16, bert-base, use-lite\)/);
  // Names of Object.prototype are not shapes of the table.
  for (const name of ['constructor', 'toString', '__proto__']) {
    const r = run(name);
    assert.notEqual(r.status, 0, name);
    assert.match(r.stderr, new RegExp(`unknown --shape '${name}' \\(available for bench step:`));
  }
  const generate = spawnSync(process.execPath, [GIFT, 'bench', 'generate', '--shape', 'constructor'], { encoding: 'utf8' });
  assert.notEqual(generate.status, 0);
  assert.match(generate.stderr, /unknown --shape 'constructor' \(available: smollm2-135m, llama-3.2-1b, llama-3-8b\)/);
  // A model that cannot fit is refused before its weights are made, naming what it needs. BERT's
  // config takes at most 1024 layers (29 GB of matrices): that case runs where they cannot fit.
  const cases: [string, number][] = [['vit-b16', 100000]];
  if (0.9 * availableMemory().bytes < 29e9) cases.push(['bert-base', 1024]);
  else console.log('bert-base with 1024 layers fits in this machine\'s memory: its refusal is not checked here');
  for (const [shape, layers] of cases) {
    const huge = run(shape, '--layers', String(layers));
    assert.notEqual(huge.status, 0, shape);
    assert.match(huge.stderr, new RegExp(`--shape ${shape} with ${layers} layers needs [\\d.]+ GB for its matrices, and this process may use [\\d.]+ GB .*; try fewer --layers`));
  }
  const seq = run('vit-b16', '--seq', '64');
  assert.notEqual(seq.status, 0);
  assert.match(seq.stderr, /--seq does not apply to --shape vit-b16/);
});

// Finite or fail: a run whose update leaves a NaN or an infinity in the trainable state, or whose
// held-out loss is not finite, stops naming the step and writes no adapter; an adapter or a
// checkpoint with non-finite values is never written, whichever path writes it; a loss that sits at
// ln(vocabulary) on consecutive updates (the model's outputs collapsed to equal values) is warned of.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { adapterFiles, attachAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { buildExamples } from '../../src/data/examples.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { trainModel, DEFAULT_TRAIN_OPTIONS } from '../../src/train/trainer.js';
import { causalLMTask } from '../../src/train/tasks/causal_lm.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');

function gift(args: string[]) {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
  return { code: r.status, err: r.stderr, out: r.stdout };
}

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-nonfinite-'));
  const data = join(dir, 'train.jsonl');
  writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `line number ${i} of the data` })).join('\n') + '\n');
  const args = (out: string, ...more: string[]) => ['train', '--model', MODEL, '--data', data, '--out', out, '--batch-size', '4', '--rank', '2', ...more];
  return { dir, data, args };
}

test('gift train: an update to infinity (huge --lr or --weight-decay) fails at its step with no adapter written', () => {
  const { dir, data, args } = setup();
  // No warmup: a first update at learning rate 0 would move nothing (ceil(0.1 x 2) = 1 update of warmup).
  for (const [flags, step, names] of [
    [['--lr', '1e39', '--max-steps', '2'], 1, /gift\.q_proj\.psi, gift\.v_proj\.psi/],
    [['--lr', '1', '--weight-decay', '1e30', '--max-steps', '2'], 2, /gift\.q_proj\.phi/],
    [['--lr', '1e39', '--max-steps', '3', '--eval-data', data, '--save-every', '1'], 1, /psi/],
  ] as const) {
    const out = join(dir, `run-${flags.join('')}`);
    const r = gift(args(out, ...flags, '--warmup-ratio', '0'));
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, new RegExp(`training diverged at step ${step}: the update left non-finite values in`));
    assert.match(r.err, names);
    assert.match(r.err, /no adapter was written/);
    assert.ok(!existsSync(join(out, 'adapter')), 'no adapter');
    assert.ok(!existsSync(join(out, 'metrics.json')), 'no metrics.json claiming a result');
    assert.deepEqual(readdirSync(out).filter((n) => n.startsWith('checkpoint')), [], 'no checkpoint of the diverged state');
  }
});

test('a collapse to equal outputs (loss at ln(vocabulary) on consecutive updates) is warned of', () => {
  const { dir, args } = setup();
  const r = gift(args(join(dir, 'collapse'), '--lr', '1e30', '--max-steps', '6'));
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /warning: the training loss at steps \d and \d is 4\.5643, exactly the loss of a uniform prediction over 96 classes/);
  const sane = gift(args(join(dir, 'sane'), '--lr', '1e-3', '--max-steps', '6'));
  assert.equal(sane.code, 0, sane.err);
  assert.doesNotMatch(sane.err, /warning/);
});

test('trainModel: a non-finite held-out loss stops the run, naming the step; before training it names the data', async () => {
  const tokenizer = Tokenizer.fromFolder(MODEL);
  const records = Array.from({ length: 4 }, (_, i) => ({ where: `test[${i}]`, value: { text: `words ${i} and more words` } }));
  const { examples } = buildExamples(records, tokenizer, { format: 'text', maxLength: 16 });
  for (const [poisonFrom, message] of [[1, /training diverged by step 2: the held-out loss is NaN; no adapter was written/], [0, /the held-out loss before training is NaN/]] as const) {
    const model = LlamaForCausalLM.fromPretrained(MODEL);
    const adapter = attachAdapter(model, { method: 'gift', rank: 2, target_modules: ['q_proj'] }, 1);
    const base = causalLMTask(model, examples, examples, 0);
    let evaluations = 0;
    const task = {
      ...base,
      heldOutBatches: (n: number) => {
        const poisoned = evaluations++ >= poisonFrom;
        return base.heldOutBatches(n).map((b) => ({ ...b, poisoned }));
      },
      lossSum: (b: { poisoned?: boolean }) => (b.poisoned ? Tensor.fromArray([NaN], []) : base.lossSum(b as never)),
    };
    await assert.rejects(trainModel({ model, adapter, task: task as never, options: { ...DEFAULT_TRAIN_OPTIONS, maxSteps: 2, evalEvery: 2, batchSize: 4 } }), message);
  }
});

test('an adapter with a NaN or an infinity is written by no path (saveAdapter, the page\'s files)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-nanadapter-'));
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  const adapter = attachAdapter(model, { method: 'gift', rank: 2, target_modules: ['q_proj', 'v_proj'] }, 1);
  const psi = adapter.namedTrainable().find(([n]) => n.endsWith('v_proj.psi'))![1];
  psi.data[3] = Infinity;
  const base = { path: MODEL, architecture: 'LlamaForCausalLM' };
  assert.throws(() => saveAdapter(join(dir, 'a'), adapter, base), /the adapter was not written: gift\.v_proj\.psi hold NaN or infinite values/);
  assert.ok(!existsSync(join(dir, 'a')));
  psi.data[3] = NaN;
  await assert.rejects(adapterFiles(adapter, base), /gift\.v_proj\.psi hold NaN or infinite values/);
  psi.data[3] = 0;
  saveAdapter(join(dir, 'a'), adapter, base);
  assert.ok(readFileSync(join(dir, 'a/adapter_model.safetensors')).length > 0);
});

test('trainModel refuses a schedule with nothing to act on: evalEvery without held-out examples, saveTotalLimit without saveEvery', async () => {
  // Each had trained as if it were not set.
  const tokenizer = Tokenizer.fromFolder(MODEL);
  const records = Array.from({ length: 4 }, (_, i) => ({ where: `test[${i}]`, value: { text: `words ${i} and more words` } }));
  const { examples } = buildExamples(records, tokenizer, { format: 'text', maxLength: 16 });
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  const adapter = attachAdapter(model, { method: 'gift', rank: 2, target_modules: ['q_proj'] }, 1);
  const options = { ...DEFAULT_TRAIN_OPTIONS, maxSteps: 1, batchSize: 4 };
  const outDir = join(mkdtempSync(join(tmpdir(), 'giftjs-schedule-')), 'run');
  await assert.rejects(trainModel({ model, adapter, task: causalLMTask(model, examples, undefined, 0), options: { ...options, evalEvery: 2 }, outDir }),
    /training option evalEvery \(--eval-every\) is 2, and the run has no held-out examples to evaluate/);
  assert.ok(!existsSync(outDir), 'refused before the run folder is claimed');
  await assert.rejects(trainModel({ model, adapter, task: causalLMTask(model, examples, undefined, 0), options: { ...options, saveTotalLimit: 2 } }),
    /training option saveTotalLimit \(--save-total-limit\) is 2, and saveEvery \(--save-every\) is 0: no checkpoint is written for it to keep/);
});

// The language-model run as a program calls it (fineTuneLanguageModel): it is what `gift train` runs
// (the same adapter, byte for byte, from the same settings), it refuses a run past its memory budget
// before loading anything, and without a data description a checkpoint resumes only on the same tokens.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadExampleFile } from '../../src/data/example_file.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { writeSyntheticLlama } from '../../src/testing/synthetic_llama.js';
import { fineTuneLanguageModel, type LanguageModelRunOptions } from '../../src/train/language_model_run.js';
import { DEFAULT_TRAIN_OPTIONS } from '../../src/train/trainer.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-lm-run-'));
  const model = join(dir, 'model');
  writeSyntheticLlama(model, { hidden: 32, intermediate: 64, layers: 2, heads: 4, kvHeads: 2, vocab: 96, tied: true }, 'F32', { tokenizerFrom: join(ROOT, 'test/fixtures/llama/llama3-scaled-tied') });
  const data = join(dir, 'train.jsonl');
  writeFileSync(data, Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: `line ${i}: the quick brown fox jumps over ${i} lazy dogs` })).join('\n') + '\n');
  return { dir, model, data, tokenizer: Tokenizer.fromFolder(model) };
}

const OPTIONS = { ...DEFAULT_TRAIN_OPTIONS, maxSteps: 3, batchSize: 4, lr: 1e-2, seed: 5 };
const METHOD = { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'] };

test('the library run and gift train write the same adapter and losses from the same settings', async () => {
  const s = setup();
  const { examples } = await loadExampleFile(s.data, s.tokenizer, { maxLength: 64 });
  const lib = join(s.dir, 'lib');
  const run = await fineTuneLanguageModel({
    modelDir: s.model, train: examples, method: METHOD, options: OPTIONS, padId: s.tokenizer.eosTokenId ?? 0, outDir: lib,
    data: { path: s.data, maxLength: 64, template: null },
  });
  assert.equal(run.training.logs.length, 3);
  const cli = join(s.dir, 'cli');
  const r = spawnSync(process.execPath, [GIFT, 'train', '--model', s.model, '--data', s.data, '--out', cli, '--method', 'gift', '--rank', '4', '--targets', 'q_proj,v_proj',
    '--max-steps', '3', '--batch-size', '4', '--lr', '1e-2', '--seed', '5', '--max-length', '64'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readFileSync(join(lib, 'adapter/adapter_model.safetensors')), readFileSync(join(cli, 'adapter/adapter_model.safetensors')));
  const losses = (dir: string) => readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
  assert.deepEqual(losses(lib), losses(cli));
  assert.deepEqual(losses(lib), run.training.logs.map((l) => l.loss));
  assert.deepEqual(Object.keys(run.metrics).sort(), Object.keys(JSON.parse(readFileSync(join(cli, 'metrics.json'), 'utf8')) as object).sort());
});

test('past its memory budget the run is refused before anything is loaded or written, naming options as a program sets them', async () => {
  const s = setup();
  const { examples } = await loadExampleFile(s.data, s.tokenizer, { maxLength: 64 });
  const out = join(s.dir, 'too-big');
  await assert.rejects(
    fineTuneLanguageModel({ modelDir: s.model, train: examples, method: METHOD, options: OPTIONS, padId: 0, outDir: out, memory: { bytes: 1e5, source: 'a test' } }),
    /fineTuneLanguageModel needs about .*, and this process may use 0 MB \(a test\); nothing was loaded\. .*memory \(--memory-limit\) sets the budget by hand/,
  );
  assert.equal(existsSync(out), false, 'no folder was made');
});

test('without a data description a checkpoint resumes on the same tokens and is refused on others', async () => {
  const s = setup();
  const { examples } = await loadExampleFile(s.data, s.tokenizer, { maxLength: 64 });
  const out = join(s.dir, 'resumed');
  const base: LanguageModelRunOptions = { modelDir: s.model, train: examples, method: METHOD, options: { ...OPTIONS, maxSteps: 2, saveEvery: 1 }, padId: 0, outDir: out };
  await fineTuneLanguageModel(base);
  let resumedAt = -1;
  const more = await fineTuneLanguageModel({ ...base, options: { ...base.options, maxSteps: 3 }, resume: true, callbacks: { onResume: (step) => (resumedAt = step) } });
  assert.equal(resumedAt, 2);
  assert.deepEqual(more.training.logs.map((l) => l.step), [3]);
  const other = examples.map((e) => ({ ids: e.ids.map((id, i) => (i === 1 ? (id + 1) % 96 : id)), labels: e.labels })); // one token changed in each
  await assert.rejects(fineTuneLanguageModel({ ...base, train: other, options: { ...base.options, maxSteps: 4 }, resume: true }), /these differ: dataPath: "examples sha256:[0-9a-f]{64}" in the checkpoint, "examples sha256:[0-9a-f]{64}" now/);
});

// What users of mlx-lm, TRL and PEFT type first is answered with giftjs's name: --iters, --learning_rate,
// a --config with iters: and learning_rate: keys; and a run's config.yaml writes numbers as numbers
// (save-every: 3, not "3"), so the file reads as one would write it and repeats the run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');

function gift(...args: string[]) {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
  return { code: r.status, err: r.stderr };
}

test('mlx-lm and TRL option names, as flags and --config keys, are answered with giftjs\'s', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-peer-names-'));
  const data = join(dir, 'd.jsonl');
  writeFileSync(data, Array.from({ length: 4 }, (_, i) => JSON.stringify({ text: `line ${i} of the text` })).join('\n') + '\n');
  const train = (...more: string[]) => gift('train', '--model', MODEL, '--data', data, '--out', join(dir, 'run'), ...more);
  for (const [flag, ours] of [['--iters', 'max-steps'], ['--learning_rate', 'lr'], ['--learning-rate', 'lr'], ['--adapter-path', 'out'], ['--grad-checkpoint', 'gradient-checkpointing'], ['--num_train_epochs', 'epochs']]) {
    const r = train(flag, '3');
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, new RegExp(`Unknown option '${flag}'; did you mean --${ours}\\?`));
  }
  assert.doesNotMatch(train('--frobnicate', '1').err, /did you mean/);
  const config = join(dir, 'mlx.yaml');
  writeFileSync(config, 'iters: 3\nlearning_rate: 1e-3\n');
  const r = train('-c', config);
  assert.equal(r.code, 1);
  assert.match(r.err, /--config .*mlx\.yaml: 'iters' is not an option of this command; did you mean --max-steps\?/);
});

test('config.yaml writes the numbers a run was given as numbers, and gift train --config repeats the run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-config-numbers-'));
  const data = join(dir, 'd.jsonl');
  writeFileSync(data, Array.from({ length: 4 }, (_, i) => JSON.stringify({ text: `line ${i} of the text` })).join('\n') + '\n');
  const args = ['--model', MODEL, '--data', data, '--max-steps', '2', '--save-every', '2', '--rank', '2', '--batch-size', '2', '--lr', '2e-3'];
  assert.equal(gift('train', ...args, '--out', join(dir, 'a')).code, 0);
  const yaml = readFileSync(join(dir, 'a/config.yaml'), 'utf8');
  assert.match(yaml, /^save-every: 2$/m);
  assert.match(yaml, /^max-steps: 2$/m);
  assert.match(yaml, /^lr: 0\.002$/m);
  assert.doesNotMatch(yaml, /: "\d/);
  const again = gift('train', '--config', join(dir, 'a/config.yaml'), '--out', join(dir, 'b'));
  assert.equal(again.code, 0, again.err);
  assert.deepEqual(readFileSync(join(dir, 'b/adapter/adapter_model.safetensors')), readFileSync(join(dir, 'a/adapter/adapter_model.safetensors')));
});

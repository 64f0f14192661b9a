// gift train --method lora --use-dora: DoRA (PEFT's use_dora) from the command line. The adapter is
// PEFT's (use_dora in adapter_config.json, a lora_magnitude_vector per layer), gift eval reads it and
// gift merge folds it into the weights with the same loss; mlx-lm's and PEFT's ways of asking for it
// are answered with giftjs's, and --use-dora where it means nothing is refused.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../../src/io/safetensors.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');

function gift(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('gift train --use-dora writes a PEFT DoRA adapter that gift eval reads and gift merge folds in with the same loss', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-use-dora-'));
  const data = join(dir, 'd.jsonl');
  writeFileSync(data, Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: `question ${i} is`, completion: ` answer ${i}` })).join('\n') + '\n');
  const run = join(dir, 'run');
  const trained = gift('train', '--model', MODEL, '--data', data, '--out', run, '--method', 'lora', '--use-dora', '--rank', '2', '--max-steps', '3', '--batch-size', '2', '--lr', '1e-2');
  assert.equal(trained.code, 0, trained.err);
  const config = JSON.parse(readFileSync(join(run, 'adapter/adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([config.peft_type, config.use_dora], ['LORA', true]);
  const f = SafetensorsFile.open(join(run, 'adapter/adapter_model.safetensors'));
  const names = [...f.tensors.keys()];
  f.close();
  const magnitudes = names.filter((n) => n.endsWith('.lora_magnitude_vector'));
  assert.ok(magnitudes.length > 0 && magnitudes.length === names.filter((n) => n.endsWith('.lora_A.weight')).length, 'a magnitude beside each lora_A');
  assert.match(readFileSync(join(run, 'config.yaml'), 'utf8'), /use-dora: true/);

  const loss = (...more: string[]) => {
    const r = gift('eval', '--data', data, '--json', ...more);
    assert.equal(r.code, 0, r.err);
    return (JSON.parse(r.out.trim().split('\n').pop()!) as { loss: number }).loss;
  };
  const adapted = loss('--model', MODEL, '--adapter', join(run, 'adapter'));
  const merged = join(dir, 'merged');
  const m = gift('merge', '--model', MODEL, '--adapter', join(run, 'adapter'), '--out', merged);
  assert.equal(m.code, 0, m.err);
  assert.ok(Math.abs(loss('--model', merged) - adapted) < 1e-4, 'the merged model scores as the adapter does');
  assert.ok(Math.abs(loss('--model', MODEL) - adapted) > 1e-4, 'the adapter changed the model');
});

test('--method dora is answered with --method lora --use-dora, and --use-dora with another method is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-use-dora-'));
  const data = join(dir, 'd.jsonl');
  writeFileSync(data, JSON.stringify({ text: 'a b c' }) + '\n');
  const asMethod = gift('train', '--model', MODEL, '--data', data, '--out', join(dir, 'a'), '--method', 'dora');
  assert.equal(asMethod.code, 1, asMethod.err);
  assert.match(asMethod.err, /method 'dora' is LoRA with DoRA's magnitudes \(PEFT's use_dora\): use --method lora --use-dora/);
  const withGift = gift('train', '--model', MODEL, '--data', data, '--out', join(dir, 'b'), '--method', 'gift', '--use-dora');
  assert.equal(withGift.code, 1, withGift.err);
  assert.match(withGift.err, /--use-dora does not apply to --method gift \(it sets use_dora of lora\)/);
  const onTorch = gift('train', '--model', MODEL, '--data', data, '--out', join(dir, 'c'), '--method', 'lora', '--use-dora', '--engine', 'torch');
  assert.equal(onTorch.code, 1, onTorch.err);
  assert.match(onTorch.err, /--use-dora is not available with --engine torch/);
});

// gift train --neftune-noise-alpha (TRL's neftune_noise_alpha): the noise reaches the training steps'
// losses and not the held-out ones, joins the checkpoint's settings, and is refused where it would do
// nothing (PyTorch's engine, a classifier) or is not a number >= 0.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');

function gift(...args: string[]): { code: number | null; err: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
  return { code: r.status, err: r.stderr };
}

test('--neftune-noise-alpha changes the training steps\' losses and not the held-out loss; a resumed run keeps its alpha', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-neftune-'));
  const data = join(dir, 'd.jsonl');
  writeFileSync(data, Array.from({ length: 4 }, (_, i) => JSON.stringify({ text: `line ${i} of the text, and more of it` })).join('\n') + '\n');
  const run = (out: string, ...more: string[]) => {
    const r = gift('train', '--model', MODEL, '--data', data, '--eval-data', data, '--out', join(dir, out), '--max-steps', '2', '--batch-size', '2', '--save-every', '1', ...more);
    assert.equal(r.code, 0, r.err);
    const log = readFileSync(join(dir, out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number });
    return { losses: log.map((l) => l.loss), heldOut: JSON.parse(readFileSync(join(dir, out, 'metrics.json'), 'utf8')).held_out_loss_start as number };
  };
  const plain = run('plain');
  const noisy = run('noisy', '--neftune-noise-alpha', '5');
  const again = run('again', '--neftune-noise-alpha', '5');
  assert.equal(noisy.heldOut, plain.heldOut, 'evaluation draws no noise');
  assert.notEqual(noisy.losses[0], plain.losses[0], 'the first step\'s forward had noisy embeddings');
  assert.deepEqual(again.losses, noisy.losses, 'seeded: the same run draws the same noise');
  const resumed = gift('train', '--model', MODEL, '--data', data, '--eval-data', data, '--out', join(dir, 'noisy'), '--max-steps', '3', '--batch-size', '2', '--save-every', '1', '--resume');
  assert.equal(resumed.code, 1);
  assert.match(resumed.err, /these differ: neftuneNoiseAlpha: 5 in the checkpoint, \(unset\) now/);
});

test('--neftune-noise-alpha: a negative value, PyTorch\'s engine, a classifier and TRL\'s spelling are answered by name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-neftune-bad-'));
  const data = join(dir, 'd.jsonl');
  writeFileSync(data, `${JSON.stringify({ text: 'a line of text' })}\n`);
  const negative = gift('train', '--model', MODEL, '--data', data, '--out', join(dir, 'a'), '--neftune-noise-alpha=-1');
  assert.equal(negative.code, 1);
  assert.match(negative.err, /neftuneNoiseAlpha \(--neftune-noise-alpha\) must be a number >= 0 \(0: off; the NEFTune paper used 5 to 15\), got -1/);
  const torch = gift('train', '--model', MODEL, '--data', data, '--out', join(dir, 'b'), '--engine', 'torch', '--neftune-noise-alpha', '5');
  assert.equal(torch.code, 1);
  assert.match(torch.err, /--neftune-noise-alpha is not available with --engine torch/);
  const classifier = gift('train', '--model', join(ROOT, 'test/fixtures/encoders/bert'), '--data', data, '--out', join(dir, 'd'), '--neftune-noise-alpha', '5');
  assert.equal(classifier.code, 1);
  assert.match(classifier.err, /--neftune-noise-alpha is read when training a language model, and --model is/);
  const trl = gift('train', '--model', MODEL, '--data', data, '--out', join(dir, 'c'), '--neftune_noise_alpha', '5');
  assert.equal(trl.code, 1);
  assert.match(trl.err, /Unknown option '--neftune_noise_alpha'; did you mean --neftune-noise-alpha\?/);
});

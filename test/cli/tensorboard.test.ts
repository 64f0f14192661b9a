// --report-to tensorboard, read back by TensorBoard's own reader (the tensorboard package from the
// local wheel index, in the peer venv: GIFTJS_PEER_PYTHON, else ~/.cache/giftjs-peer/bin/python,
// which .ci/run makes when pip can install it; skipped saying so otherwise): every step's loss,
// learning rate, gradient norm and tokens/s and every held-out loss, at their steps, as log.jsonl and
// metrics.json hold them. The CRC-32C that frames each record is checked against its published value.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { crc32c } from '../../src/train/tensorboard.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama-gqa');
const PYTHON = process.env.GIFTJS_PEER_PYTHON ?? join(homedir(), '.cache', 'giftjs-peer', 'bin', 'python');
const hasTensorBoard = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import tensorboard'], { encoding: 'utf8' }).status === 0;

/** The scalars of an event folder as TensorBoard's own reader reads them: tag -> [step, value][]. */
function readCurves(folder: string): Record<string, [number, number][]> {
  const read = spawnSync(PYTHON, ['-c', `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
print(json.dumps({tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}))
`, folder], { encoding: 'utf8' });
  assert.equal(read.status, 0, read.stderr);
  return JSON.parse(read.stdout) as Record<string, [number, number][]>;
}

test('CRC-32C is the Castagnoli checksum (RFC 3720\'s check value)', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
});

test('gift train --report-to tensorboard writes curves TensorBoard reads back', { skip: hasTensorBoard ? false : `no python with tensorboard at ${PYTHON} (set GIFTJS_PEER_PYTHON, or run ../shared/peer/setup_peer.sh tensorboard)` }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-tb-'));
  const data = join(dir, 'train.jsonl');
  writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `line ${i} of the text` })).join('\n') + '\n');
  const out = join(dir, 'run');
  const r = spawnSync(process.execPath, [GIFT, 'train', '--model', MODEL, '--data', data, '--eval-data', data, '--out', out, '--max-steps', '6', '--batch-size', '2',
    '--eval-every', '2', '--rank', '4', '--report-to', 'tensorboard'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const events = readdirSync(join(out, 'tensorboard'));
  assert.equal(events.length, 1);
  assert.match(events[0]!, /^events\.out\.tfevents\.\d+\..+\.\d+\.giftjs$/);
  const curves = readCurves(join(out, 'tensorboard'));
  const logs = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  const f32 = (x: number) => Math.fround(x);
  for (const [tag, field] of [['train/loss', 'loss'], ['train/learning_rate', 'lr'], ['train/grad_norm', 'grad_norm'], ['train/tokens_per_s', 'tokens_per_s']] as const) {
    assert.deepEqual(curves[tag], logs.map((l) => [l.step, f32(l[field]!)]), tag);
  }
  const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { held_out_history?: { step: number; loss: number }[] };
  const history = metrics.held_out_history ?? [];
  assert.ok(history.length >= 3, 'held-out losses at 0, 2, 4, 6');
  assert.deepEqual(curves['eval/loss'], history.map((e) => [e.step, f32(e.loss)]), 'eval/loss');
});

test('a classifier\'s run writes them too (it had written no event files, without a word)', { skip: hasTensorBoard ? false : `no python with tensorboard at ${PYTHON}` }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-tb-cls-'));
  const data = join(dir, 'train.jsonl');
  writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `message ${i} here`, label: i % 2 ? 'spam' : 'ham' })).join('\n') + '\n');
  const out = join(dir, 'run');
  const r = spawnSync(process.execPath, [GIFT, 'train', '--model', join(ROOT, 'test/fixtures/encoders/bert'), '--data', data, '--eval-data', data, '--out', out, '--max-steps', '4',
    '--batch-size', '2', '--eval-every', '2', '--rank', '4', '--report-to', 'tensorboard'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const curves = readCurves(join(out, 'tensorboard'));
  const logs = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  assert.equal(logs.length, 4);
  for (const [tag, field] of [['train/loss', 'loss'], ['train/learning_rate', 'lr'], ['train/grad_norm', 'grad_norm']] as const) {
    assert.deepEqual(curves[tag], logs.map((l) => [l.step, Math.fround(l[field]!)]), tag);
  }
  assert.ok((curves['eval/loss'] ?? []).length >= 2, JSON.stringify(curves['eval/loss']));
});

test('--report-to names what it takes', () => {
  const r = spawnSync(process.execPath, [GIFT, 'train', '--model', MODEL, '--data', join(ROOT, 'test/fixtures/sliding_window/texts.jsonl'), '--out', join(tmpdir(), 'never'), '--report-to', 'wandb'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--report-to must be tensorboard or none, got 'wandb' \(Weights & Biases is not supported; TensorBoard event files are\)/);
});

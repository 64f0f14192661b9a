// The learning-rate schedules against transformers' get_scheduler itself (tools/schedule_reference.py in
// the peer venv): every kind giftjs offers, at every step of several lengths and warmups, including a
// warmup as long as the run and one of a single update. transformers' `constant` ignores a warmup it is
// given (get_constant_schedule), which giftjs's had applied; the trainer now refuses a warmup with it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { lrMultiplier, SCHEDULERS } from '../../src/train/schedule.js';
import { DEFAULT_TRAIN_OPTIONS, validateTrainOptions } from '../../src/train/trainer.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');
const PYTHON = process.env.GIFTJS_PEER_PYTHON ?? join(homedir(), '.cache', 'giftjs-peer', 'bin', 'python');
const hasTransformers = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import transformers, torch'], { encoding: 'utf8' }).status === 0;

const LENGTHS: [total: number, warmup: number][] = [[100, 10], [7, 0], [6, 2], [1, 1], [5, 5], [13, 4]];
const MIN_LR_RATE = 0.01;

test('every scheduler, step by step, as transformers\' get_scheduler', {
  skip: hasTransformers ? false : `no python with transformers at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run builds the peer venv)`,
}, () => {
  const cases = SCHEDULERS.flatMap((kind) => LENGTHS.map(([total, warmup]) => ({ kind, total, warmup, min_lr_rate: MIN_LR_RATE })));
  const file = join(mkdtempSync(join(tmpdir(), 'giftjs-schedule-')), 'cases.json');
  writeFileSync(file, JSON.stringify(cases));
  const r = spawnSync(PYTHON, [join(ROOT, 'tools/schedule_reference.py'), file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const expected = JSON.parse(r.stdout) as number[][];
  cases.forEach((c, i) => {
    expected[i].forEach((want, step) => {
      const got = lrMultiplier(c.kind, step, c.total, c.warmup, MIN_LR_RATE);
      assert.ok(Math.abs(got - want) <= 1e-12, `${c.kind}, ${c.total} updates, ${c.warmup} of warmup, after ${step}: giftjs ${got}, transformers ${want}`);
    });
  });
});

test('constant has no warmup: a warmup ratio beside it is refused by name, constant_with_warmup takes one', () => {
  assert.throws(() => validateTrainOptions({ ...DEFAULT_TRAIN_OPTIONS, scheduler: 'constant' }),
    /training option warmupRatio is 0\.1; it must be 0 with scheduler constant: transformers' constant schedule has no warmup \(constant_with_warmup has one\)/);
  validateTrainOptions({ ...DEFAULT_TRAIN_OPTIONS, scheduler: 'constant', warmupRatio: 0 });
  validateTrainOptions({ ...DEFAULT_TRAIN_OPTIONS, scheduler: 'constant_with_warmup' });
});

test('gift train --scheduler constant: the default warmup does not apply to it (the first update has the full rate); one named is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-constant-'));
  const data = join(dir, 'train.jsonl');
  writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `the quick brown fox ${i} jumps over the lazy dog` })).join('\n') + '\n');
  const run = (out: string, extra: string[]) => spawnSync(process.execPath, [GIFT, 'train', '--model', MODEL, '--data', data, '--out', join(dir, out),
    '--rank', '2', '--batch-size', '4', '--max-steps', '2', '--lr', '0.01', ...extra], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
  const ok = run('constant', ['--scheduler', 'constant']);
  assert.equal(ok.status, 0, ok.stderr);
  const lrs = readFileSync(join(dir, 'constant', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).lr as number);
  assert.deepEqual(lrs, [0.01, 0.01]);
  const refused = run('refused', ['--scheduler', 'constant', '--warmup-ratio', '0.5']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /training option warmupRatio is 0\.5; it must be 0 with scheduler constant: transformers' constant schedule has no warmup \(constant_with_warmup has one\)/);
  assert.ok(!existsSync(join(dir, 'refused', 'log.jsonl')), 'refused before training');
  const warm = run('warm', ['--scheduler', 'constant_with_warmup', '--warmup-ratio', '0.5']);
  assert.equal(warm.status, 0, warm.stderr);
  const warmLrs = readFileSync(join(dir, 'warm', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).lr as number);
  assert.deepEqual(warmLrs, [0, 0.01]);
});

// Training on PyTorch's engine: gift prepare writes token shards, torchrun runs gift_torch.train with
// DistributedDataParallel over gloo. Two processes compute the losses one process does for the same
// global batch; the adapter they write is read by gift eval with the held-out loss PyTorch reported;
// a run resumed from its checkpoint continues as if never stopped.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PYTHON = '/usr/bin/python3';
const MODEL = join(ROOT, 'test/fixtures/llama/llama-gqa');
const torchPresent = spawnSync(PYTHON, ['-c', 'import torch.distributed.run'], { encoding: 'utf8' }).status === 0;
const skip = torchPresent ? false : 'PyTorch is not installed for /usr/bin/python3 (apt-get install python3-torch)';

function gift(...args: string[]): { code: number; out: string; err: string } {
  // The Python with torch (--engine torch checks it can import torch before anything else it does).
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_PYTHON: PYTHON } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** torchrun on this machine's CPUs. (--redirects/--tee 2: Debian's torch 1.13 cannot parse their default under Python 3.11.) */
function torchrun(processes: number, ...args: string[]): void {
  const r = spawnSync(PYTHON, ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', String(processes), '--redirects', '2', '--tee', '2', '-m', 'gift_torch.train', ...args],
    { encoding: 'utf8', env: { ...process.env, PYTHONPATH: join(ROOT, 'python'), OMP_NUM_THREADS: '1' }, timeout: 240_000 });
  assert.equal(r.status, 0, `torchrun failed:\n${r.stderr.slice(-3000)}`);
}

const losses = (dir: string) => readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);

test('torchrun with 2 gloo processes equals 1 process; gift eval reads the adapter with the loss PyTorch reported; resume continues exactly', { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), 'giftjs-ddp-'));
  const data = join(work, 'd.jsonl');
  writeFileSync(data, ['the cat sat on the mat.', 'Hello there, it is an orange.', 'a dog ran in the park and the sun was hot.',
    'We went to the sea, then home.', 'It is a big red ball.', 'she had a hat and a bag.', 'Tom and Sue went to the store.'].map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const shards = join(work, 'shards');
  const p = gift('prepare', '--model', MODEL, '--data', data, '--eval-data', data, '--out', shards);
  assert.equal(p.code, 0, p.err);
  const common = ['--model', MODEL, '--shards', shards, '--rank', '4', '--targets', 'q_proj,v_proj,down_proj', '--batch-size', '3', '--grad-accum', '2',
    '--max-steps', '5', '--lr', '1e-2', '--warmup-ratio', '0.2', '--seed', '7'];
  const one = join(work, 'one');
  const two = join(work, 'two');
  torchrun(1, ...common, '--out', one);
  torchrun(2, ...common, '--out', two, '--save-every', '3');
  const a = losses(one);
  const b = losses(two);
  assert.equal(a.length, 5);
  a.forEach((l, i) => assert.ok(Math.abs(l - b[i]!) < 1e-5, `step ${i + 1}: 1 process ${l}, 2 processes ${b[i]}`));
  assert.ok(a[4]! < a[0]!, `the loss falls: ${a}`);

  const metrics = JSON.parse(readFileSync(join(two, 'metrics.json'), 'utf8'));
  assert.equal(metrics.processes, 2);
  const e = gift('eval', '--model', MODEL, '--adapter', join(two, 'adapter'), '--data', data, '--json');
  assert.equal(e.code, 0, e.err);
  const evalLoss = JSON.parse(e.out.trim().split('\n').pop()!).loss as number;
  assert.ok(Math.abs(evalLoss - metrics.held_out_loss_end) < 1e-5, `gift eval ${evalLoss} vs PyTorch's held-out loss ${metrics.held_out_loss_end}`);

  // Resume from the step-3 checkpoint (as after a crash): steps 4 and 5 again, the same losses. Other
  // settings or inputs are refused by name, as gift train refuses them.
  rmSync(join(two, 'adapter'), { recursive: true });
  const changed = spawnSync(PYTHON, ['-m', 'gift_torch.train', ...common.map((x) => (x === '1e-2' ? '2e-2' : x)), '--out', two, '--resume'],
    { encoding: 'utf8', env: { ...process.env, PYTHONPATH: join(ROOT, 'python'), OMP_NUM_THREADS: '1' }, timeout: 240_000 });
  assert.notEqual(changed.status, 0);
  assert.match(changed.stderr, /--resume continues a run with its own settings and inputs, and these differ: --lr: 0\.01 in the checkpoint, 0\.02 now\. Only --max-steps/);
  // Killed between the checkpoint swap's two renames: the previous checkpoint stands as checkpoint.old.
  renameSync(join(two, 'checkpoint'), join(two, 'checkpoint.old'));
  torchrun(2, ...common, '--out', two, '--resume');
  assert.ok(!existsSync(join(two, 'checkpoint.old')), 'the interrupted swap was finished');
  const c = losses(two);
  assert.equal(c.length, 5);
  c.forEach((l, i) => assert.ok(Math.abs(l - b[i]!) < 1e-6, `resumed step ${i + 1}: ${l} vs ${b[i]}`));
});

test('gift train --engine torch --nproc 2 runs the same training on PyTorch and leaves a run folder gift eval reads', { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), 'giftjs-engine-'));
  const data = join(work, 'd.jsonl');
  writeFileSync(data, ['the cat sat on the mat.', 'Hello there, it is an orange.', 'a dog ran in the park.', 'It is a big red ball.'].map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const out = join(work, 'run');
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), 'train', '--engine', 'torch', '--nproc', '2', '--model', MODEL, '--data', data, '--eval-data', data,
    '--out', out, '--rank', '4', '--max-steps', '3', '--batch-size', '2', '--lr', '1e-2', '--save-every', '2', '--json'], { encoding: 'utf8', env: { ...process.env, GIFTJS_PYTHON: PYTHON, OMP_NUM_THREADS: '1' }, timeout: 240_000 });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  assert.equal(losses(out).length, 3);
  const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), metrics, '--json ends with metrics.json');
  const e = gift('eval', '--model', MODEL, '--adapter', join(out, 'adapter'), '--data', data, '--json');
  assert.equal(e.code, 0, e.err);
  assert.ok(Math.abs(JSON.parse(e.out.trim().split('\n').pop()!).loss - metrics.held_out_loss_end) < 1e-5);
  const bad = gift('train', '--engine', 'torch', '--method', 'lora', '--model', MODEL, '--data', data, '--out', join(work, 'lora'));
  assert.equal(bad.code, 1);
  assert.match(bad.err, /--engine torch trains GIFT; for lora use PEFT/);
  const dropped = gift('train', '--engine', 'torch', '--dropout', '0.1', '--model', MODEL, '--data', data, '--out', join(work, 'dropout'));
  assert.equal(dropped.code, 1);
  assert.match(dropped.err, /--dropout does not apply to --method gift \(it sets dropout of lora\)/);
  // A fresh run never writes over one that can still be resumed (the first run left a step-2 checkpoint),
  // its shards included: the refused run had replaced them, and the first could no longer resume.
  const shards = () => readFileSync(join(out, 'shards', 'prepare.json'), 'utf8');
  const before = shards();
  const again = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), 'train', '--engine', 'torch', '--nproc', '1', '--model', MODEL, '--data', data,
    '--out', out, '--rank', '4', '--max-steps', '3', '--batch-size', '2'], { encoding: 'utf8', env: { ...process.env, GIFTJS_PYTHON: PYTHON, OMP_NUM_THREADS: '1' }, timeout: 240_000 });
  assert.notEqual(again.status, 0);
  assert.match(again.stderr, /holds a checkpoint of an earlier run: continue it with --resume/);
  // A resumed run trains on the shards it began with: other data settings now are refused, not ignored.
  const otherData = gift('train', '--engine', 'torch', '--model', MODEL, '--data', data, '--eval-data', data, '--out', out, '--rank', '4', '--max-steps', '4',
    '--batch-size', '2', '--lr', '1e-2', '--save-every', '2', '--resume', '--loss-on', 'all', '--max-length', '16');
  assert.equal(otherData.code, 1, otherData.err);
  assert.deepEqual(shards(), before, 'the shards are those the first run began with');
  assert.match(otherData.err, /--resume trains on the shards this run prepared when it began \(.*shards\), and this command asks for other data: --loss-on "response" then, "all" now; --max-length \d+ then, 16 now\./);
  const resumed = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), 'train', '--engine', 'torch', '--nproc', '1', '--model', MODEL, '--data', data, '--eval-data', data,
    '--out', out, '--rank', '4', '--max-steps', '4', '--batch-size', '2', '--lr', '1e-2', '--save-every', '2', '--resume'], { encoding: 'utf8', env: { ...process.env, GIFTJS_PYTHON: PYTHON, OMP_NUM_THREADS: '1' }, timeout: 240_000 });
  assert.equal(resumed.status, 0, resumed.stderr.slice(-3000));
  assert.equal(losses(out).length, 4);
  // The run folder is giftjs's, as gift train's is: marked, and a folder it did not make is refused.
  assert.ok(existsSync(join(out, '.giftjs-run')), 'the run folder is marked');
  const foreign = join(work, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'notes.txt'), 'mine\n');
  const refused = gift('train', '--engine', 'torch', '--model', MODEL, '--data', data, '--out', foreign);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /is a folder giftjs did not make \(it holds notes\.txt\)/);
  assert.deepEqual(readdirSync(foreign), ['notes.txt'], 'nothing was written there');
});

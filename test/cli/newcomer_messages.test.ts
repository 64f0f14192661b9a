// What a newcomer reads when something is missing, mistyped or stopped: --engine torch on a Python
// without PyTorch names GIFTJS_PYTHON before anything is prepared; the top-level help lists every
// command form (export gguf, convert wegeft); an unknown export format says which exist, without a
// wall of usage; Ctrl-C during training says what the run folder keeps and how to go on.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sharedFile } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama-gqa');

function gift(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('--engine torch on a Python without PyTorch is refused before anything is prepared, naming GIFTJS_PYTHON', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-notorch-'));
  // A python3 as Debian's is before python3-torch: it runs, and cannot import torch.
  const python = join(dir, 'python3');
  writeFileSync(python, '#!/bin/sh\necho "ModuleNotFoundError: No module named \'torch\'" >&2\nexit 1\n');
  chmodSync(python, 0o755);
  const data = join(dir, 'train.jsonl');
  writeFileSync(data, '{"text": "a line"}\n');
  const out = join(dir, 'run');
  const r = gift(['train', '--engine', 'torch', '--model', MODEL, '--data', data, '--out', out], { GIFTJS_PYTHON: python });
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /--engine torch: GIFTJS_PYTHON \(.*python3\) cannot import torch \(ModuleNotFoundError: No module named 'torch'\); set GIFTJS_PYTHON to a Python that has PyTorch/);
  assert.ok(!existsSync(join(out, 'shards')), 'nothing was prepared');
});

test('the top-level help lists every command form; an unknown export format names the ones that exist', () => {
  const help = gift(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /export {4}--format gguf: the model \(adapter merged\) as one GGUF file/);
  assert.match(help.out, /wegeft <adapter dir> --model <dir> --out <dir>/);
  const bad = gift(['export', '--format', 'onnx', '--model', MODEL, '--out', '/tmp/x']);
  assert.equal(bad.code, 1);
  assert.equal(bad.err.trim(), `gift: --format must be wegeft or gguf, got "onnx" (gift export --help)`);
});

/** Starts gift train, sends `signal` once `ready` holds, and returns its status and stderr. */
function interruptTraining(args: string[], ready: () => boolean, signal: NodeJS.Signals = 'SIGINT'): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GIFT, 'train', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += String(d)));
    const poll = setInterval(() => {
      if (ready()) {
        clearInterval(poll);
        child.kill(signal);
      }
    }, 50);
    child.on('exit', (code) => {
      clearInterval(poll);
      resolve({ code, err });
    });
  });
}

test('Ctrl-C or SIGTERM during training finishes the update, saves it with --save-every, says how to go on, and ends with 130 / 143', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-ctrlc-'));
  const data = join(dir, 'train.jsonl');
  writeFileSync(data, Array.from({ length: 16 }, (_, i) => JSON.stringify({ text: `line ${i} of some text to train on` })).join('\n') + '\n');
  const common = ['--model', MODEL, '--data', data, '--max-steps', '100000', '--batch-size', '2', '--max-length', '16'];
  const withCheckpoints = join(dir, 'run');
  const a = await interruptTraining([...common, '--out', withCheckpoints, '--save-every', '3'], () => existsSync(join(withCheckpoints, 'checkpoint-3')));
  assert.equal(a.code, 130, a.err);
  assert.match(a.err, /SIGINT: stopping after the update in progress \(Ctrl-C again stops at once\)/);
  const stopped = /stopped \(SIGINT\) after step (\d+): .*run keeps it as (.*checkpoint-(\d+)); to go on from there:\n {2}gift train (.*)\n/.exec(a.err);
  assert.ok(stopped, a.err);
  assert.equal(stopped[1], stopped[3], 'the checkpoint is the step the run stopped after, whatever --save-every says');
  assert.ok(existsSync(stopped[2]!), stopped[2]);
  assert.match(stopped[4]!, /--save-every 3 --resume$/);
  // The printed command goes on from that step (shortened here to one more update).
  const step = Number(stopped[1]);
  const again = gift(['train', ...stopped[4]!.split(' ').map((w) => (w === '100000' ? String(step + 1) : w))]);
  assert.equal(again.code, 0, again.err);
  assert.match(again.err, new RegExp(`resuming from .*checkpoint-${step} at step ${step}`));
  const terminated = join(dir, 'run-term');
  const t = await interruptTraining([...common, '--out', terminated, '--save-every', '2'], () => existsSync(join(terminated, 'checkpoint-2')), 'SIGTERM');
  assert.equal(t.code, 143, t.err);
  assert.match(t.err, /stopped \(SIGTERM\) after step \d+: .*run-term keeps it as/);
  const without = join(dir, 'run-plain');
  const b = await interruptTraining([...common, '--out', without], () => existsSync(join(without, 'log.jsonl')));
  assert.equal(b.code, 130, b.err);
  assert.match(b.err, /stopped \(SIGINT\) after step \d+: no checkpoint holds it \(--save-every N saves one every N updates, and one when a run is stopped\), so the run starts again from the beginning/);
  // config.yaml is written when the run starts: the interrupted run still says what it was.
  assert.match(readFileSync(join(without, 'config.yaml'), 'utf8'), /^max-steps: 100000$/m);
});

test('gift eval --data dir/ scores an mlx-lm data folder\'s test file; a folder without one is refused by name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-evaldir-'));
  const lines = Array.from({ length: 4 }, (_, i) => JSON.stringify({ text: `a test line number ${i}` })).join('\n') + '\n';
  writeFileSync(join(dir, 'train.jsonl'), '{"text": "train"}\n');
  writeFileSync(join(dir, 'test.jsonl'), lines);
  const folder = gift(['eval', '--model', MODEL, '--data', dir, '--json']);
  assert.equal(folder.code, 0, folder.err);
  assert.match(folder.err, /evaluating its test file, .*test\.jsonl/);
  const file = gift(['eval', '--model', MODEL, '--data', join(dir, 'test.jsonl'), '--json']);
  assert.equal(JSON.parse(folder.out.trim().split('\n').pop()!).loss, JSON.parse(file.out.trim().split('\n').pop()!).loss);
  const empty = mkdtempSync(join(tmpdir(), 'giftjs-evaldir-'));
  writeFileSync(join(empty, 'train.jsonl'), '{"text": "train"}\n');
  const refused = gift(['eval', '--model', MODEL, '--data', empty]);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /--data .* is a folder without a test file \(test\.jsonl, test\.json, test\.parquet, test\.csv, test\.tsv\); gift eval scores a data folder's test file, as mlx-lm's --test does/);
});

test('tests that need stories260K say how to provide it, and read it from GIFTJS_STORIES260K', () => {
  const suite = fileURLToPath(new URL('../io/llama2c.test.js', import.meta.url));
  const run = (folder: string) => {
    const env: NodeJS.ProcessEnv = { ...process.env, GIFTJS_STORIES260K: folder };
    delete env.NODE_TEST_CONTEXT; // a test run of its own, reporting on stdout
    return spawnSync(process.execPath, ['--test', '--test-reporter=tap', suite], { encoding: 'utf8', env });
  };
  const missing = run(join(tmpdir(), 'giftjs-no-such-folder'));
  assert.equal(missing.status, 0, missing.stdout);
  assert.match(missing.stdout, /# SKIP .*giftjs-no-such-folder\/stories260K\.bin is missing: put the project's data folder beside the repository, or set GIFTJS_STORIES260K to a folder with stories260K\.bin and tok512\.bin/);
  const source = sharedFile('models/stories260K/stories260K.bin');
  if (!existsSync(source)) return; // nothing to copy: the skip above is all this machine can show
  const folder = mkdtempSync(join(tmpdir(), 'giftjs-stories-'));
  for (const f of ['stories260K.bin', 'tok512.bin']) cpSync(join(dirname(source), f), join(folder, f));
  const provided = run(folder);
  assert.equal(provided.status, 0, provided.stdout);
  assert.match(provided.stdout, /# skipped 0/);
});

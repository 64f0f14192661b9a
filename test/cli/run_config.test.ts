// mlx-lm habits of `gift train`: a --config file that flags override, the resolved config written
// to <out>/config.yaml, --data as a folder of train/valid files, numbered checkpoints that are
// loadable adapters (--save-total-limit), and --resume that names what changed and lets a finished
// run go on: extended, it ends with the bytes of a run that was that long from the start.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');

function gift(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function setup(): { dir: string; data: string } {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-runconfig-'));
  const data = join(dir, 'data');
  mkdirSync(data);
  const lines = (n: number, salt: number) => Array.from({ length: n }, (_, i) => JSON.stringify({ text: `the quick brown fox ${i * salt} jumps over the lazy dog ${i}` })).join('\n') + '\n';
  writeFileSync(join(data, 'train.jsonl'), lines(24, 3));
  writeFileSync(join(data, 'valid.jsonl'), lines(6, 11));
  return { dir, data };
}

const adapterBytes = (dir: string) => readFileSync(join(dir, 'adapter/adapter_model.safetensors'));
const losses = (out: string) => readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);

test('gift train --config: a run extended with --resume and a larger --max-steps ends byte-identical to one that long from the start', () => {
  const { dir, data } = setup();
  const config = join(dir, 'run.yaml');
  // A schedule whose first updates do not depend on the run's length (constant, no warmup), as
  // extending a run requires for identical bytes; flags beside --config override it.
  writeFileSync(config, `model: ${MODEL}\ndata: ${data}\nmethod: gift\nrank: 4\ntargets: [q_proj, v_proj]\nbatch_size: 4\nlr: 0.02\nscheduler: constant\nwarmup_ratio: 0\nsave_every: 2\nmax_steps: 99\nseed: 5\n`);
  const long = join(dir, 'long');
  assert.equal(gift(['train', '-c', config, '--max-steps', '8', '--out', long]).code, 0);
  const short = join(dir, 'short');
  let r = gift(['train', '--config', config, '--max-steps', '4', '--out', short]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /held-out/, 'valid.jsonl of the data folder is the held-out set');
  const written = parseYaml(readFileSync(join(short, 'config.yaml'), 'utf8')) as Record<string, unknown>;
  assert.equal(written['max-steps'], 4, 'the flag overrode the file');
  assert.equal(written.lr, 0.02);
  assert.equal(written['batch-size'], 4);
  assert.equal(written['grad-accum'], 1, 'defaults are written too');
  assert.deepEqual(written.targets, ['q_proj', 'v_proj']);
  assert.equal(written['eval-data'], join(data, 'valid.jsonl'));
  assert.ok(!('resume' in written) && !('config' in written));
  assert.deepEqual(readdirSync(short).filter((n) => n.startsWith('checkpoint-')).sort(), ['checkpoint-2', 'checkpoint-4'], 'the end of the run is saved too');
  assert.deepEqual(adapterBytes(join(short, 'checkpoint-4')), adapterBytes(short), "a checkpoint's adapter/ is the adapter at that step");

  r = gift(['train', '--config', join(short, 'config.yaml'), '--max-steps', '8', '--resume']);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /resuming from \S+checkpoint-4 at step 4; the run now has 8 updates \(4 when the checkpoint was written\)/);
  assert.deepEqual(adapterBytes(short), adapterBytes(long));
  assert.deepEqual(losses(short), losses(long));

  // A changed setting is named; a length below the checkpoint is refused.
  r = gift(['train', '--config', join(short, 'config.yaml'), '--max-steps', '10', '--lr', '0.5', '--resume']);
  assert.equal(r.code, 1);
  assert.match(r.err, /these differ: lr: 0\.02 in the checkpoint, 0\.5 now/);
  r = gift(['train', '--config', join(short, 'config.yaml'), '--max-steps', '6', '--resume']);
  assert.equal(r.code, 1);
  assert.match(r.err, /is at update 8, past this run's length of 6 updates; give a maxSteps \(--max-steps, or epochs, --epochs\) of at least 8/);
});

test('gift train --method full writes no rank or targets into config.yaml, and --config repeats the run (they had been refused there)', () => {
  const { dir, data } = setup();
  const out = join(dir, 'full');
  let r = gift(['train', '--model', MODEL, '--data', join(data, 'train.jsonl'), '--out', out, '--method', 'full', '--max-steps', '1', '--batch-size', '4']);
  assert.equal(r.code, 0, r.err);
  const written = parseYaml(readFileSync(join(out, 'config.yaml'), 'utf8')) as Record<string, unknown>;
  assert.equal(written.method, 'full');
  assert.ok(!('rank' in written) && !('targets' in written), JSON.stringify(written));
  r = gift(['train', '--config', join(out, 'config.yaml'), '--out', join(dir, 'again')]);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(readFileSync(join(dir, 'again', 'adapter', 'adapter_model.safetensors')), readFileSync(join(out, 'adapter', 'adapter_model.safetensors')));
});

test('gift train --save-total-limit keeps the newest checkpoints, each a loadable adapter', () => {
  const { dir, data } = setup();
  const out = join(dir, 'kept');
  const r = gift(['train', '--model', MODEL, '--data', join(data, 'train.jsonl'), '--out', out, '--max-steps', '6', '--save-every', '1', '--save-total-limit', '2', '--batch-size', '4', '--rank', '2']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(readdirSync(out).filter((n) => n.startsWith('checkpoint-')).sort(), ['checkpoint-5', 'checkpoint-6']);
  const evaluated = gift(['eval', '--model', MODEL, '--adapter', join(out, 'checkpoint-5/adapter'), '--data', join(data, 'valid.jsonl'), '--json']);
  assert.equal(evaluated.code, 0, evaluated.err);
  assert.ok(Number.isFinite(JSON.parse(evaluated.out.trim().split('\n').pop()!).loss));
});

test('gift train --config refuses unknown keys and wrong kinds by name; --data folders need a train file', () => {
  const { dir, data } = setup();
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, `model: ${MODEL}\ndata: ${data}\nlearning_rate: 0.1\n`);
  let r = gift(['train', '--config', bad, '--out', join(dir, 'o1')]);
  assert.equal(r.code, 1);
  assert.match(r.err, /--config \S+bad\.yaml: 'learning_rate' is not an option of this command; did you mean --lr\? \(mlx-lm, TRL and PEFT name it 'learning_rate'\)/);
  for (const key of ['constructor', '__proto__', 'toString']) {
    writeFileSync(bad, `model: ${MODEL}\ndata: ${data}\n${key}: 1\n`);
    r = gift(['train', '--config', bad, '--out', join(dir, 'o1')]);
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`'${key}' is not an option of this command`));
  }
  writeFileSync(bad, `model: ${MODEL}\ndata: ${data}\nlr: .nan\n`);
  r = gift(['train', '--config', bad, '--out', join(dir, 'o1')]);
  assert.match(r.err, /--lr must be a decimal number \(such as 2e-4 or 0\.5\), got 'NaN'/);
  writeFileSync(bad, `model: ${MODEL}\ndata: ${data}\nresume: "yes"\n`);
  r = gift(['train', '--config', bad, '--out', join(dir, 'o2')]);
  assert.match(r.err, /'resume' is a switch: true or false, got "yes"/);
  writeFileSync(bad, '- just\n- a list\n');
  r = gift(['train', '--config', bad]);
  assert.match(r.err, /must hold a mapping of option names to values/);
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  r = gift(['train', '--model', MODEL, '--data', empty, '--out', join(dir, 'o3')]);
  assert.equal(r.code, 1);
  assert.match(r.err, /--data \S+empty is a folder without a train file \(train\.jsonl, train\.json/);
  assert.ok(!existsSync(join(dir, 'o3')), 'nothing was written');
});

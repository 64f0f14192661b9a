// No data loss: outputs never replace what the user did not name, inputs are never outputs, and a
// kill at any filesystem step of `gift merge` or `gift train` leaves the old output or the new one
// (fault injection: GIFTJS_FAULT_AT=N kills the process at its Nth write, fsync, rename or removal).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { recoverFolder } from '../../src/io/atomic.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { attachAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import { Random } from '../../src/tensor/random.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');

function gift(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, signal: r.signal, err: r.stderr, out: r.stdout };
}

function adapterWith(dir: string, seed: number): string {
  const m = LlamaForCausalLM.fromPretrained(MODEL);
  const a = attachAdapter(m, { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'] }, 1);
  const r = new Random(seed);
  for (const [, t] of a.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = 0.3 * r.normal();
  saveAdapter(dir, a, { path: MODEL, architecture: 'LlamaForCausalLM' });
  return dir;
}

/** The folder's files and their bytes (the marker included). */
function snapshot(dir: string): Map<string, string> {
  return new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}

/** What a write left beside a folder; a killed writer's lock file stays (the next writer takes it over). */
const leftovers = (dir: string) => readdirSync(dirname(dir)).filter((n) => (n.includes('.giftjs-') || n.includes('.tmp-')) && !n.endsWith('.giftjs-lock'));

test('merge and convert never replace a folder or file giftjs did not write, nor an input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-outsafe-'));
  const adapter = adapterWith(join(dir, 'adapter'), 1);
  const user = join(dir, 'user');
  mkdirSync(user);
  writeFileSync(join(user, 'thesis.tex'), 'years of work');
  let r = gift(['merge', '--model', MODEL, '--adapter', adapter, '--out', user]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /is a folder giftjs did not write \(it holds thesis\.tex\); giftjs never replaces it/);
  assert.equal(readFileSync(join(user, 'thesis.tex'), 'utf8'), 'years of work');

  const file = join(dir, 'notes.txt');
  writeFileSync(file, 'mine');
  r = gift(['merge', '--model', MODEL, '--adapter', adapter, '--out', file]);
  assert.equal(r.code, 1);
  assert.match(r.err, /exists and is not a folder/);
  assert.equal(readFileSync(file, 'utf8'), 'mine');

  const before = snapshot(MODEL);
  r = gift(['merge', '--model', MODEL, '--adapter', adapter, '--out', MODEL]);
  assert.equal(r.code, 1);
  assert.match(r.err, /--out .* is the --model input itself/);
  r = gift(['merge', '--model', MODEL, '--adapter', adapter, '--out', dirname(MODEL)]);
  assert.match(r.err, /holds the --model input/);
  r = gift(['merge', '--model', MODEL, '--adapter', adapter, '--out', dir]);
  assert.match(r.err, /holds the --adapter input/);
  assert.deepEqual(snapshot(MODEL), before, 'the model folder is untouched');

  r = gift(['convert', 'use-lite', '--out', user]);
  assert.equal(r.code, 1);
  assert.equal(readFileSync(join(user, 'thesis.tex'), 'utf8'), 'years of work');

  // A merged folder giftjs wrote may be replaced by the next merge (and only that).
  const merged = join(dir, 'merged');
  assert.equal(gift(['merge', '--model', MODEL, '--adapter', adapter, '--out', merged]).code, 0);
  assert.equal(gift(['merge', '--model', MODEL, '--adapter', adapter, '--out', merged]).code, 0);
  assert.deepEqual(leftovers(merged), []);
});

test('gift merge killed at every filesystem step leaves the old merged folder or the new one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-faults-'));
  const a = adapterWith(join(dir, 'a'), 1);
  const b = adapterWith(join(dir, 'b'), 2);
  const out = join(dir, 'out');
  const pristine = join(dir, 'pristine');
  assert.equal(gift(['merge', '--model', MODEL, '--adapter', a, '--out', pristine]).code, 0);
  const newer = join(dir, 'newer');
  assert.equal(gift(['merge', '--model', MODEL, '--adapter', b, '--out', newer]).code, 0);
  const oldState = snapshot(pristine);
  const newState = snapshot(newer);
  assert.notDeepEqual(oldState, newState);
  const seen = { old: 0, new: 0 };
  let finished = false;
  for (let k = 1; k < 200 && !finished; k++) {
    rmSync(out, { recursive: true, force: true });
    for (const n of leftovers(out)) rmSync(join(dir, n), { recursive: true, force: true });
    cpSync(pristine, out, { recursive: true });
    const r = gift(['merge', '--model', MODEL, '--adapter', b, '--out', out], { GIFTJS_FAULT_AT: String(k) });
    if (r.code === 0) {
      finished = true;
      assert.deepEqual(snapshot(out), newState);
      break;
    }
    assert.equal(r.signal, 'SIGKILL', `step ${k}: ${r.err}`);
    recoverFolder(out); // what the next writer does first
    const state = snapshot(out);
    if (JSON.stringify([...state]) === JSON.stringify([...oldState])) seen.old++;
    else {
      assert.deepEqual(state, newState, `killed at step ${k}: the folder is neither the old nor the new one`);
      seen.new++;
    }
    assert.deepEqual(leftovers(out), [], `killed at step ${k}: recovery leaves nothing behind`);
  }
  assert.ok(finished, 'the merge finished once no fault was injected');
  assert.ok(seen.old > 20 && seen.new >= 1, `kills seen: ${JSON.stringify(seen)}`);
  // And the next real command after a kill in the middle of the swap just works.
  rmSync(out, { recursive: true, force: true });
  cpSync(pristine, out, { recursive: true });
  const log = join(dir, 'steps.log');
  cpSync(pristine, join(dir, 'counted'), { recursive: true });
  gift(['merge', '--model', MODEL, '--adapter', b, '--out', join(dir, 'counted')], { GIFTJS_FAULT_LOG: log });
  const steps = readFileSync(log, 'utf8').trim().split('\n');
  const swap = steps.lastIndexOf('rename'); // 0-based: the rename ready -> out, after out -> old
  assert.equal(gift(['merge', '--model', MODEL, '--adapter', b, '--out', out], { GIFTJS_FAULT_AT: String(swap + 1) }).signal, 'SIGKILL');
  assert.ok(!existsSync(out), 'killed between the two renames of the swap');
  assert.equal(gift(['merge', '--model', MODEL, '--adapter', a, '--out', out]).code, 0);
  assert.deepEqual(snapshot(out), oldState);
});

test('gift train killed at any filesystem step, then resumed, ends with the same adapter', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-trainfaults-'));
  const data = join(dir, 'd.jsonl');
  writeFileSync(data, Array.from({ length: 24 }, (_, i) => JSON.stringify({ text: `the quick brown fox ${i} jumps over the lazy dog ${i * 7}` })).join('\n') + '\n');
  const args = (out: string) => ['train', '--model', MODEL, '--data', data, '--out', out, '--max-steps', '6', '--save-every', '2', '--batch-size', '4', '--rank', '4', '--lr', '1e-2'];
  const straight = join(dir, 'straight');
  const log = join(dir, 'steps.log');
  assert.equal(gift(args(straight), { GIFTJS_FAULT_LOG: log }).code, 0);
  const expected = readFileSync(join(straight, 'adapter/adapter_model.safetensors'));
  const steps = readFileSync(log, 'utf8').trim().split('\n');
  // Every rename, fsync and removal, and every sixth chunk written.
  const points = steps.map((s, i) => (s !== 'write' || i % 6 === 0 ? i + 1 : 0)).filter((k) => k > 0);
  let resumed = 0;
  for (const k of points) {
    const out = join(dir, `k${k}`);
    const killed = gift(args(out), { GIFTJS_FAULT_AT: String(k) });
    assert.equal(killed.signal, 'SIGKILL', `step ${k}: ${killed.err}`);
    const hasCheckpoint = existsSync(out) && readdirSync(out).some((n) => /^checkpoint-\d+$|^\.checkpoint-\d+\.giftjs-ready$/.test(n));
    const again = gift(hasCheckpoint ? [...args(out), '--resume'] : args(out));
    assert.equal(again.code, 0, `after a kill at step ${k} (${steps[k - 1]}): ${again.err}`);
    if (hasCheckpoint) resumed++;
    assert.deepEqual(readFileSync(join(out, 'adapter/adapter_model.safetensors')), expected, `killed at step ${k}`);
    assert.deepEqual(readdirSync(out).filter((n) => n.includes('.giftjs-') && n !== '.giftjs-run' && !n.endsWith('.giftjs-lock')), []);
    rmSync(out, { recursive: true });
  }
  assert.ok(resumed > 10, `${resumed} of ${points.length} kills were resumed from a checkpoint`);
});

test('gift train: --resume without a checkpoint, a checkpoint without --resume, a foreign --out and a second writer are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-runsafe-'));
  const data = join(dir, 'd.jsonl');
  writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `a short line ${i}` })).join('\n') + '\n');
  const args = (out: string) => ['train', '--model', MODEL, '--data', data, '--out', out, '--max-steps', '4', '--save-every', '2', '--batch-size', '4', '--rank', '2'];
  const out = join(dir, 'run');
  let r = gift([...args(out), '--resume']);
  assert.equal(r.code, 1);
  assert.match(r.err, /resume \(--resume\): .* has no checkpoint to continue from/);
  assert.equal(gift(args(out)).code, 0);
  const log = readFileSync(join(out, 'log.jsonl'));
  r = gift(args(out));
  assert.equal(r.code, 1);
  assert.match(r.err, /holds a checkpoint at step 4: set resume \(--resume\) to continue that run, or choose another outDir \(--out; nothing was changed\)/);
  assert.deepEqual(readFileSync(join(out, 'log.jsonl')), log, 'the log was not truncated');

  const foreign = join(dir, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'data.csv'), '1,2\n');
  r = gift(args(foreign));
  assert.match(r.err, /is a folder giftjs did not make \(it holds data\.csv\)/);
  r = gift(['train', '--model', MODEL, '--data', data, '--out', dir]);
  assert.match(r.err, /holds the --data input/);

  // A lock held by a live process (this one) refuses a second writer; a stale one is taken over.
  const busy = join(dir, 'busy');
  mkdirSync(busy);
  writeFileSync(join(busy, '.giftjs-run'), '{}\n');
  writeFileSync(join(busy, '.giftjs-lock'), `${process.pid}\n`);
  r = gift(args(busy));
  assert.match(r.err, new RegExp(`in use by another giftjs process \\(pid ${process.pid}`));
  writeFileSync(join(busy, '.giftjs-lock'), '999999999\n');
  assert.equal(gift(args(busy)).code, 0);
  assert.ok(!existsSync(join(busy, '.giftjs-lock')), 'the lock is released at the end');
});

test('gift convert killed at each rename, fsync and removal leaves the old folder or the new one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-convertfaults-'));
  const pristine = join(dir, 'pristine');
  assert.equal(gift(['merge', '--model', MODEL, '--adapter', adapterWith(join(dir, 'a'), 1), '--out', pristine]).code, 0);
  const converted = join(dir, 'converted');
  const log = join(dir, 'steps.log');
  cpSync(pristine, converted, { recursive: true });
  assert.equal(gift(['convert', 'use-lite', '--out', converted], { GIFTJS_FAULT_LOG: log }).code, 0);
  const oldState = snapshot(pristine);
  const newState = snapshot(converted);
  const steps = readFileSync(log, 'utf8').trim().split('\n');
  const points = steps.map((s, i) => (s === 'write' ? 0 : i + 1)).filter((k) => k > 0);
  const out = join(dir, 'out');
  const seen = { old: 0, new: 0 };
  for (const k of points) {
    rmSync(out, { recursive: true, force: true });
    for (const n of leftovers(out)) rmSync(join(dir, n), { recursive: true, force: true });
    cpSync(pristine, out, { recursive: true });
    assert.equal(gift(['convert', 'use-lite', '--out', out], { GIFTJS_FAULT_AT: String(k) }).signal, 'SIGKILL', `step ${k}`);
    recoverFolder(out);
    const state = snapshot(out);
    if (JSON.stringify([...state]) === JSON.stringify([...oldState])) seen.old++;
    else {
      assert.deepEqual(state, newState, `killed at step ${k} (${steps[k - 1]})`);
      seen.new++;
    }
  }
  assert.ok(seen.old > 0 && seen.new > 0, JSON.stringify(seen));
});

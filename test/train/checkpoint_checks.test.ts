// Checkpoints are checked, not believed: every field of trainer_state.json, the bytes of what giftjs
// wrote (the folder's .giftjs marker records each file's sha256), the state's shapes and values
// (finite moments, second moments >= 0), and the contents of the model and data files the run read
// (a file changed under the same path is named). A torn last line of log.jsonl (a kill while
// appending) is dropped. An adapter giftjs wrote with a flipped bit is refused by eval and merge.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile, saveSafetensors } from '../../src/io/safetensors.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { changedSettings } from '../../src/train/checkpoint.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');

function gift(args: string[]) {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
  return { code: r.status, err: r.stderr, out: r.stdout };
}

/** A finished 2-step run with a checkpoint at each step, copied fresh for each case. */
function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-ckpt-'));
  const data = join(dir, 'train.jsonl');
  writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `line number ${i} of the data` })).join('\n') + '\n');
  const model = join(dir, 'model');
  cpSync(MODEL, model, { recursive: true });
  const args = (out: string, steps: number, ...more: string[]) => ['train', '--model', model, '--data', data, '--out', out, '--max-steps', String(steps), '--batch-size', '4', '--rank', '2', '--save-every', '1', ...more];
  const pristine = join(dir, 'pristine');
  const r = gift(args(pristine, 2));
  assert.equal(r.code, 0, r.err);
  let n = 0;
  const copy = () => {
    const out = join(dir, `case-${n++}`);
    cpSync(pristine, out, { recursive: true });
    return out;
  };
  const resume = (out: string) => gift([...args(out, 3), '--resume']);
  return { dir, data, model, copy, resume, pristine };
}

/** Rewrites a checkpoint's trainer_state.json as a hand would (the marker's record of it removed, as an earlier giftjs wrote none). */
function editState(out: string, edit: (s: Record<string, unknown>) => void): void {
  const ckpt = join(out, 'checkpoint-2');
  const path = join(ckpt, 'trainer_state.json');
  const state = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(state);
  writeFileSync(path, JSON.stringify(state));
  rmSync(join(ckpt, '.giftjs'));
}

test('trainer_state.json: every field is checked before a resume believes it', () => {
  const s = setup();
  const refused = (edit: (st: Record<string, unknown>) => void, message: RegExp) => {
    const out = s.copy();
    editState(out, edit);
    const r = s.resume(out);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, message);
    assert.doesNotMatch(r.err, /internal error|at .*\.js:\d+/);
  };
  refused((st) => (st.step = '2'), /trainer_state\.json: 'step' is "2"; it must be an integer >= 1 \(the checkpoint is damaged/);
  refused((st) => (st.step = null), /'step' is null; it must be an integer >= 1/);
  refused((st) => delete st.step, /'step' is missing; it must be an integer >= 1/);
  refused((st) => (st.step = 1), /'step' is 1; it must be 2, the number of its folder checkpoint-2/);
  refused((st) => (st.optimizer_step = -5), /'optimizer_step' is -5; it must be 2, the step/);
  refused((st) => (st.fingerprint = 7), /'fingerprint' is 7/);
  refused((st) => (st.totalSteps = 1), /'totalSteps' is 1; it must be absent or an integer >= 2/);
  refused((st) => (st.evalHistory = [{ step: 0, loss: 'NaN' }]), /'evalHistory' is .*; it must be a list of/);
  // Written under other training rules (an earlier giftjs's, which recorded none, or another version):
  // resuming would change the warmup, weight decay, schedule or dropout masks in the run's middle.
  const rules = (v: unknown) => (st: Record<string, unknown>) => {
    const settings = JSON.parse(st.fingerprint as string) as Record<string, unknown>;
    if (v === undefined) delete settings.trainingRules;
    else settings.trainingRules = v;
    st.fingerprint = JSON.stringify(settings);
  };
  refused(rules(undefined), /checkpoint-2 was written under giftjs's training rules before 2026-12-07 \(no version recorded\), and this giftjs trains by version 3 .*continuing would change the run's rules in its middle\. Finish it with the giftjs that began it, or start afresh in another outDir \(--out\)/);
  refused(rules(1), /training rules of version 1, and this giftjs trains by version 3/);
  refused(rules(2), /training rules of version 2, and this giftjs trains by version 3/);
  // Unchanged, it resumes.
  const ok = s.resume(s.copy());
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.err, /resuming from .*checkpoint-2 at step 2/);
});

test('a flipped bit in a checkpoint or in an adapter giftjs wrote is refused by name', () => {
  const s = setup();
  const out = s.copy();
  const state = join(out, 'checkpoint-2', 'state.safetensors');
  const bytes = readFileSync(state);
  bytes[bytes.length - 3]! ^= 0x10;
  writeFileSync(state, bytes);
  let r = s.resume(out);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /state\.safetensors is not the file giftjs wrote: its sha256 is [0-9a-f]{64}, giftjs recorded [0-9a-f]{64}/);

  const adapter = join(s.copy(), 'adapter');
  const weights = join(adapter, 'adapter_model.safetensors');
  const w = readFileSync(weights);
  w[w.length - 1]! ^= 0x01;
  writeFileSync(weights, w);
  r = gift(['merge', '--model', s.model, '--adapter', adapter, '--out', join(s.dir, 'merged')]);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /adapter_model\.safetensors is not the file giftjs wrote/);
  assert.ok(!existsSync(join(s.dir, 'merged')));
  r = gift(['eval', '--model', s.model, '--adapter', adapter, '--data', s.data]);
  assert.match(r.err, /adapter_model\.safetensors is not the file giftjs wrote/);
});

test('state values are checked: a negative second moment or a NaN is refused (an earlier giftjs wrote no checksums)', () => {
  const s = setup();
  for (const [which, value, message] of [
    ['optimizer.v.gift.q_proj.psi', -1, /optimizer state 'optimizer\.v\.gift\.q_proj\.psi' holds -1 at index 0; it must be finite and >= 0/],
    ['optimizer.m.gift.v_proj.phi', NaN, /optimizer state 'optimizer\.m\.gift\.v_proj\.phi' holds NaN/],
    ['gift.q_proj.phi', Infinity, /tensor 'gift\.q_proj\.phi' holds Infinity/],
  ] as const) {
    const out = s.copy();
    const ckpt = join(out, 'checkpoint-2');
    const path = join(ckpt, 'state.safetensors');
    const file = SafetensorsFile.open(path);
    const entries: Record<string, Tensor> = {};
    for (const name of file.tensors.keys()) entries[name] = file.readTensor(name);
    file.close();
    entries[which]!.data[0] = value;
    saveSafetensors(path, entries);
    rmSync(join(ckpt, '.giftjs'));
    const r = s.resume(out);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, message);
  }
  const out = s.copy();
  rmSync(join(out, 'checkpoint-2', 'state.safetensors'));
  const r = s.resume(out);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /state\.safetensors is missing/);
});

test('a model or data file changed under the same path is named on --resume', () => {
  const s = setup();
  let out = s.copy();
  appendFileSync(s.data, `${JSON.stringify({ text: 'one more line' })}\n`);
  let r = s.resume(out);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /the contents of --data changed \(sha256 [0-9a-f]{64}, \d+ bytes in the checkpoint, sha256 [0-9a-f]{64}, \d+ bytes now\)/);
  writeFileSync(s.data, readFileSync(s.data, 'utf8').split('\n').slice(0, 8).join('\n') + '\n'); // as it was

  out = s.copy();
  const weights = join(s.model, 'model.safetensors');
  const w = readFileSync(weights);
  w[w.length - 2]! ^= 0x01;
  writeFileSync(weights, w);
  r = s.resume(out);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /the contents of --model file model\.safetensors changed/);
});

test('a torn last line of log.jsonl is dropped on --resume; a damaged earlier line is refused by number', () => {
  const s = setup();
  let out = s.copy();
  appendFileSync(join(out, 'log.jsonl'), '{"step": 3, "lo');
  let r = s.resume(out);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step), [1, 2, 3]);
  out = s.copy();
  const log = join(out, 'log.jsonl');
  writeFileSync(log, `garbage\n${readFileSync(log, 'utf8')}`);
  r = s.resume(out);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /log\.jsonl:1 is not a JSON line/);
});

test('a checkpoint of a baseline that recorded a rank and targets (before they were refused) resumes; a setting its method reads is still compared', () => {
  const run = (methodConfig: Record<string, unknown>, lr = 0.001) => JSON.stringify({ modelDir: 'm', methodConfig, options: { lr } });
  const old = run({ method: 'full', rank: 8, target_modules: ['q_proj', 'v_proj'], layers: null });
  assert.deepEqual(changedSettings(old, run({ method: 'full' })), []);
  assert.deepEqual(changedSettings(old, run({ method: 'full' }, 0.002)), ['lr: 0.001 in the checkpoint, 0.002 now']);
  // The classifier runs' fingerprints call it config; modules_to_save is read by every method.
  assert.deepEqual(changedSettings(JSON.stringify({ config: { method: 'bitfit', rank: 8, modules_to_save: ['classifier'] } }), JSON.stringify({ config: { method: 'bitfit' } })),
    ['config.modules_to_save: ["classifier"] in the checkpoint, (unset) now']);
  // GIFT reads its rank: one missing now is a change, as is another method.
  assert.deepEqual(changedSettings(run({ method: 'gift', rank: 8 }), run({ method: 'gift' })), ['methodConfig.rank: 8 in the checkpoint, (unset) now']);
  assert.deepEqual(changedSettings(run({ method: 'gift', rank: 8 }), run({ method: 'full' })),
    ['methodConfig.method: "gift" in the checkpoint, "full" now', 'methodConfig.rank: 8 in the checkpoint, (unset) now']);
});

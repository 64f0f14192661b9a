// --model org/name[@revision] against a local server in the hub's URL layout (test/io/hub_server.ts):
// the first run downloads into the standard cache (HF_HOME) once, later runs read the cache, with
// HF_HUB_OFFLINE=1 or with the server gone; an interrupted download resumes where it stopped; a
// private repository needs HF_TOKEN; the adapter names the hub id as its base model.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { repoFromFolder, startLocalHub } from './hub_server.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const FIXTURE = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const REPO = 'giftjs-test/tiny-llama';

/** Runs gift without blocking this process (the hub server lives in it). */
function gift(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GIFT, ...args], { env: { ...process.env, GIFTJS_NUM_THREADS: '1', HF_HUB_OFFLINE: '', HF_TOKEN: '', ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

function dataFile(dir: string): string {
  const path = join(dir, 'train.jsonl');
  writeFileSync(path, Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `a line of text number ${i}` })).join('\n') + '\n');
  return path;
}

const trainArgs = (model: string, data: string, out: string) => ['train', '--model', model, '--data', data, '--out', out, '--max-steps', '2', '--batch-size', '4', '--rank', '2'];
const adapterBytes = (out: string) => readFileSync(join(out, 'adapter/adapter_model.safetensors'));

test('gift train --model org/name: downloaded once into the hub cache, then run offline from it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-hub-'));
  const data = dataFile(dir);
  const home = join(dir, 'hf');
  const hub = await startLocalHub({ [REPO]: repoFromFolder(FIXTURE, COMMIT) });
  const env = { HF_ENDPOINT: hub.url, HF_HOME: home };
  try {
    const first = await gift(trainArgs(REPO, data, join(dir, 'a')), env);
    assert.equal(first.code, 0, first.err);
    assert.match(first.err, /hub: downloading 5 file\(s\) of giftjs-test\/tiny-llama@main/); // config, tokenizer files, safetensors
    const storage = join(home, 'hub', 'models--giftjs-test--tiny-llama');
    assert.equal(readFileSync(join(storage, 'refs', 'main'), 'utf8'), COMMIT);
    const config = join(storage, 'snapshots', COMMIT, 'config.json');
    assert.ok(lstatSync(config).isSymbolicLink() && readlinkSync(config).startsWith('../../blobs/'), 'snapshots link to blobs, as huggingface_hub lays them out');
    assert.deepEqual(readFileSync(config), readFileSync(join(FIXTURE, 'config.json')));
    assert.deepEqual([...hub.downloads.values()], [1, 1, 1, 1, 1]);
    assert.equal(JSON.parse(readFileSync(join(dir, 'a/adapter/adapter_config.json'), 'utf8')).base_model_name_or_path, REPO);

    const again = await gift(trainArgs(`${REPO}@main`, data, join(dir, 'b')), env);
    assert.equal(again.code, 0, again.err);
    assert.doesNotMatch(again.err, /downloading/);
    assert.deepEqual([...hub.downloads.values()], [1, 1, 1, 1, 1], 'nothing is downloaded twice');
    const local = await gift(trainArgs(FIXTURE, data, join(dir, 'local')), {});
    assert.deepEqual(adapterBytes(join(dir, 'a')), adapterBytes(join(dir, 'local')), 'the hub model is the fixture');
  } finally {
    await hub.close();
  }
  const offline = await gift(trainArgs(REPO, data, join(dir, 'c')), { ...env, HF_HUB_OFFLINE: '1' });
  assert.equal(offline.code, 0, offline.err);
  assert.deepEqual(adapterBytes(join(dir, 'c')), adapterBytes(join(dir, 'a')));
  const unreachable = await gift(['eval', '--model', `${REPO}@${COMMIT}`, '--data', data, '--json'], env);
  assert.equal(unreachable.code, 0, unreachable.err);
  const notCached = await gift(trainArgs('giftjs-test/other', data, join(dir, 'd')), { ...env, HF_HUB_OFFLINE: '1' });
  assert.equal(notCached.code, 1);
  assert.match(notCached.err, /--model giftjs-test\/other@main: HF_HUB_OFFLINE is set and the model is not in the cache/);
});

test('an interrupted hub download resumes where it stopped; a private repository needs HF_TOKEN', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-hub-'));
  const data = dataFile(dir);
  const home = join(dir, 'hf');
  const hub = await startLocalHub({ [REPO]: repoFromFolder(FIXTURE, COMMIT), 'giftjs-test/private': repoFromFolder(FIXTURE, COMMIT, 'hf_secret') });
  const env = { HF_ENDPOINT: hub.url, HF_HOME: home };
  try {
    hub.cutShort = { file: `${REPO}/model.safetensors`, bytes: 40000 };
    const cut = await gift(trainArgs(REPO, data, join(dir, 'a')), env);
    assert.equal(cut.code, 1, cut.err);
    assert.match(cut.err, /--model giftjs-test\/tiny-llama@main: the download stopped \(.*\); run again to resume it/);
    const blobs = join(home, 'hub', 'models--giftjs-test--tiny-llama', 'blobs');
    const partial = readFileSync(join(blobs, `${repoFromFolder(FIXTURE, COMMIT).files.get('model.safetensors')!.lfs}.incomplete`));
    assert.equal(partial.length, 40000);
    assert.ok(!existsSync(join(home, 'hub', 'models--giftjs-test--tiny-llama', 'refs', 'main')), 'no ref to an incomplete snapshot');
    const resumed = await gift(trainArgs(REPO, data, join(dir, 'b')), env);
    assert.equal(resumed.code, 0, resumed.err);
    assert.equal(hub.downloads.get(`${REPO}/model.safetensors`), 2);
    const local = await gift(trainArgs(FIXTURE, data, join(dir, 'local')), {});
    assert.deepEqual(adapterBytes(join(dir, 'b')), adapterBytes(join(dir, 'local')));
    assert.equal(statSync(join(home, 'hub', 'models--giftjs-test--tiny-llama', 'snapshots', COMMIT, 'model.safetensors')).size, readFileSync(join(FIXTURE, 'model.safetensors')).length);

    const denied = await gift(trainArgs('giftjs-test/private', data, join(dir, 'p1')), env);
    assert.equal(denied.code, 1);
    assert.match(denied.err, /--model giftjs-test\/private@main: no local folder giftjs-test\/private, and the hub answered: .*\(a private or gated repository needs HF_TOKEN\)/);
    const allowed = await gift(trainArgs('giftjs-test/private', data, join(dir, 'p2')), { ...env, HF_TOKEN: 'hf_secret' });
    assert.equal(allowed.code, 0, allowed.err);
  } finally {
    await hub.close();
  }
});

test('--adapter org/name loads a PEFT adapter from the hub, as PeftModel.from_pretrained does', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-hub-'));
  const data = dataFile(dir);
  const trained = await gift(trainArgs(FIXTURE, data, join(dir, 'run')), {});
  assert.equal(trained.code, 0, trained.err);
  const local = await gift(['eval', '--model', FIXTURE, '--adapter', join(dir, 'run/adapter'), '--data', data, '--json'], {});
  assert.equal(local.code, 0, local.err);
  const adapterCommit = 'fedcba9876543210fedcba9876543210fedcba98';
  const hub = await startLocalHub({ 'giftjs-test/tiny-adapter': repoFromFolder(join(dir, 'run/adapter'), adapterCommit) });
  const env = { HF_ENDPOINT: hub.url, HF_HOME: join(dir, 'hf') };
  try {
    const viaHub = await gift(['eval', '--model', FIXTURE, '--adapter', 'giftjs-test/tiny-adapter', '--data', data, '--json'], env);
    assert.equal(viaHub.code, 0, viaHub.err);
    assert.equal(viaHub.out.trim().split('\n').pop(), local.out.trim().split('\n').pop(), 'the same loss as the local adapter');
    assert.ok(existsSync(join(dir, 'hf/hub/models--giftjs-test--tiny-adapter/snapshots', adapterCommit, 'adapter_config.json')));
    const missing = await gift(['eval', '--model', FIXTURE, '--adapter', 'runs/not-here', '--data', data], env);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /--adapter runs\/not-here@main: no local folder runs\/not-here, and the hub answered/);
  } finally {
    await hub.close();
  }
});

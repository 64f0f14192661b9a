// gift push against a local stand-in for the hub's write API (test/io/hub_upload_server.ts), through
// @huggingface/hub as against the real hub: a gift train run's adapter goes up with a model card that
// says how it was trained; the repository is created once (private when asked) and updated after; a
// refused token and an upload cut short commit nothing and say so; running again uploads everything.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startUploadHub, type UploadHub } from '../io/hub_upload_server.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama-gqa');
let hub: UploadHub;
let run: string;

before(async () => {
  hub = await startUploadHub('hf_writer');
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-push-'));
  const data = join(dir, 'train.jsonl');
  writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `line ${i} of the text` })).join('\n') + '\n');
  run = join(dir, 'run');
  const r = spawnSync(process.execPath, [GIFT, 'train', '--model', MODEL, '--data', data, '--eval-data', data, '--out', run, '--max-steps', '3', '--rank', '4'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
after(() => hub.close());

/** gift push run asynchronously: the hub stand-in answers in this process. */
function push(token: string, ...args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GIFT, 'push', ...args], { env: { ...process.env, HF_TOKEN: token, HF_ENDPOINT: hub.url }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += String(d)));
    child.on('exit', (code) => resolve({ code, err }));
  });
}

test('an adapter goes up in one commit with a model card saying how it was trained; the repository is made once, private when asked', async () => {
  const adapter = join(run, 'adapter');
  const first = await push('hf_writer', adapter, '--repo', 'me/tiny-gift', '--private');
  assert.equal(first.code, 0, first.err);
  assert.match(first.err, /created http:\/\/127\.0\.0\.1:\d+\/me\/tiny-gift: README\.md, adapter_config\.json, adapter_model\.safetensors/);
  const repo = hub.repos.get('me/tiny-gift')!;
  assert.equal(repo.private, true);
  // Every file but giftjs's own record of what it wrote (.giftjs), which is about this disk, not the adapter.
  for (const name of readdirSync(adapter).filter((n) => !n.startsWith('.'))) assert.deepEqual(repo.files.get(name), readFileSync(join(adapter, name)), name);
  assert.ok([...repo.files.keys()].every((n) => !n.startsWith('.')));
  const card = repo.files.get('README.md')!.toString('utf8');
  const metrics = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8'));
  assert.match(card, /^---\nbase_model: |library_name: giftjs/m);
  assert.match(card, /GIFT \(Generative Parameter-Efficient Fine-Tuning, arXiv 2312\.00700\) adapter trained with \[giftjs\]/);
  assert.match(card, /\| method \| gift \|\n\| rank \| 4 \|/);
  assert.match(card, /\| target modules \| q_proj, v_proj \|/);
  assert.match(card, new RegExp(`\\| training data \\| .*train\\.jsonl \\|`));
  assert.match(card, new RegExp(`\\| updates \\| ${metrics.steps} \\|`));
  assert.match(card, new RegExp(`\\| held-out loss \\| ${metrics.held_out_loss_start.toFixed(4)} before, ${metrics.held_out_loss_end.toFixed(4)} after \\|`));
  const again = await push('hf_writer', adapter, '--repo', 'me/tiny-gift', '--message', 'second');
  assert.equal(again.code, 0, again.err);
  assert.match(again.err, /^updated /m);
  assert.equal(repo.commits.length, 2);
});

test('a refused token and an upload cut short commit nothing, say so, and a second run uploads everything', async () => {
  const adapter = join(run, 'adapter');
  const refused = await push('hf_wrong', adapter, '--repo', 'me/refused');
  assert.equal(refused.code, 1);
  assert.match(refused.err, /gift push me\/refused \(http:\/\/127\.0\.0\.1:\d+\): creating the repository failed: the hub refused the token in HF_TOKEN \(401: .*\); it needs write access to me\/refused\. Nothing was committed/);
  assert.equal(hub.repos.has('me/refused'), false);
  const none = await push('', adapter, '--repo', 'me/none');
  assert.match(none.err, /gift push needs a hub token with write access in HF_TOKEN/);
  hub.cutNextCommit = true;
  const cut = await push('hf_writer', adapter, '--repo', 'me/cut');
  assert.equal(cut.code, 1);
  assert.match(cut.err, /uploading the files failed: .*Nothing was committed; run it again to upload everything/);
  assert.equal(hub.repos.get('me/cut')!.files.size, 0, 'the cut commit changed nothing');
  const retry = await push('hf_writer', adapter, '--repo', 'me/cut');
  assert.equal(retry.code, 0, retry.err);
  assert.deepEqual([...hub.repos.get('me/cut')!.files.keys()].sort(), ['README.md', 'adapter_config.json', 'adapter_model.safetensors']);
  const bad = await push('hf_writer', adapter, '--repo', '../etc');
  assert.match(bad.err, /--repo must be a hub repository id such as your-name\/my-adapter, got '\.\.\/etc'/);
});

// --dataset-text-field (TRL's dataset_text_field): text records whose text is in another field, read by
// gift train, eval and prepare alike; it joins the checkpoint's settings and prepare.json.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '../../src/io/tokenizer.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');

function gift(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('--dataset-text-field: gift eval scores the named field, gift train trains on it and keeps it for --resume, gift prepare records it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-text-field-'));
  const data = join(dir, 'd.jsonl');
  const stories = ['once upon a time there was a cat', 'the dog ran to the park', 'a bird sang all day', 'the end of the story'];
  writeFileSync(data, stories.map((story, i) => JSON.stringify({ id: i, story })).join('\n') + '\n');
  const refused = gift('eval', '--model', MODEL, '--data', data);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /cannot tell the data format from fields \["id","story"\]/);
  const scored = gift('eval', '--model', MODEL, '--data', data, '--dataset-text-field', 'story');
  assert.equal(scored.code, 0, scored.err);
  // Each story's tokens and the EOS appended, less the first: every one predicted.
  const tok = Tokenizer.fromFolder(MODEL);
  assert.match(scored.out, new RegExp(`predicted tokens ${stories.reduce((n, s) => n + tok.encode(s).length, 0)}\\b`));
  const run = join(dir, 'run');
  const trained = gift('train', '--model', MODEL, '--data', data, '--out', run, '--max-steps', '2', '--batch-size', '2', '--save-every', '1', '--dataset-text-field', 'story');
  assert.equal(trained.code, 0, trained.err);
  assert.match(readFileSync(join(run, 'config.yaml'), 'utf8'), /^dataset-text-field: story$/m);
  const again = gift('train', '--config', join(run, 'config.yaml'), '--max-steps', '3', '--resume');
  assert.equal(again.code, 0, again.err);
  const prepared = join(dir, 'shards');
  assert.equal(gift('prepare', '--model', MODEL, '--data', data, '--out', prepared, '--dataset-text-field', 'story').code, 0);
  assert.equal(JSON.parse(readFileSync(join(prepared, 'prepare.json'), 'utf8')).text_field, 'story');
  const hint = gift('train', '--model', MODEL, '--data', data, '--out', join(dir, 'x'), '--dataset_text_field', 'story');
  assert.match(hint.err, /Unknown option '--dataset_text_field'; did you mean --dataset-text-field\?/);
});

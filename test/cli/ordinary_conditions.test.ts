// Ordinary conditions are clear errors, never internal ones (exit 70 with a stack): a shard an index
// names but that is missing, a dangling link where a weight should be (a damaged cache), a folder
// where a file should be (not "not valid JSON"), a --config nested past the stack, a full disk
// while the log is appended, a read-only or forbidden folder for a lock (injected with
// GIFTJS_FAULT_ERRNO, since root reads and writes anything here).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');

function gift(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1', ...env } });
  return { code: r.status, err: r.stderr };
}

function clear(r: { code: number | null; err: string }, message: RegExp): void {
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, message);
  assert.doesNotMatch(r.err, /internal error|\n\s+at /);
}

const dir = mkdtempSync(join(tmpdir(), 'giftjs-ordinary-'));
const data = join(dir, 'd.jsonl');
writeFileSync(data, Array.from({ length: 4 }, (_, i) => JSON.stringify({ text: `line ${i} of the text` })).join('\n') + '\n');
const modelCopy = (name: string) => {
  const m = join(dir, name);
  cpSync(MODEL, m, { recursive: true });
  return m;
};

test('missing and damaged model files are named, with what the system said', () => {
  const sharded = modelCopy('sharded');
  writeFileSync(join(sharded, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: { 'model.embed_tokens.weight': 'model-00001-of-00002.safetensors' } }));
  renameSync(join(sharded, 'model.safetensors'), join(sharded, 'model-00002-of-00002.safetensors'));
  clear(gift(['eval', '--model', sharded, '--data', data]), /model-00001-of-00002\.safetensors: cannot read: does not exist \(ENOENT\)/);
  const dangling = modelCopy('dangling');
  rmSync(join(dangling, 'model.safetensors'));
  symlinkSync(join(dir, 'no-such-blob'), join(dangling, 'model.safetensors'));
  clear(gift(['eval', '--model', dangling, '--data', data]), /model\.safetensors: cannot read: it is a link to .*no-such-blob, which does not exist/);
  const folder = modelCopy('folder');
  rmSync(join(folder, 'tokenizer.json'));
  mkdirSync(join(folder, 'tokenizer.json'));
  clear(gift(['eval', '--model', folder, '--data', data]), /tokenizer\.json: cannot read: is a folder, not a file \(EISDIR\)/);
});

test('a --config nested past the stack is refused by name', () => {
  const deep = join(dir, 'deep.json');
  writeFileSync(deep, `{"lr": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
  clear(gift(['train', '--model', MODEL, '--data', data, '--out', join(dir, 'deep'), '--config', deep]), /--config .*deep\.json: (not valid JSON \(nested too deeply\)|'lr' must be a string, a number or a list of them, got a value nested too deeply to show)/);
});

test('a full disk while the log is appended, a lock that cannot be created: clear errors, the folder left resumable', () => {
  const out = join(dir, 'full');
  clear(gift(['train', '--model', MODEL, '--data', data, '--out', out, '--max-steps', '2', '--batch-size', '2', '--rank', '2'], { GIFTJS_FAULT_ERRNO: 'log-append:ENOSPC' }),
    /cannot write .*log\.jsonl: no space left on the device/);
  assert.ok(!existsSync(join(out, '.giftjs-lock')), 'the lock was released');
  for (const code of ['EROFS', 'EACCES']) {
    clear(gift(['train', '--model', MODEL, '--data', data, '--out', join(dir, `lock-${code}`), '--max-steps', '1', '--batch-size', '2', '--rank', '2'], { GIFTJS_FAULT_ERRNO: `lock-create:${code}` }),
      new RegExp(`cannot write .*\\.giftjs-lock: ${code === 'EROFS' ? 'read-only filesystem' : 'permission denied'}`));
  }
});

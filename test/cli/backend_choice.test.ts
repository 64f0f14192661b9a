// --backend / GIFTJS_BACKEND in the gift command: webgpu is taken by gift train only (its every host
// read is asynchronous; test/backend/async_reads.test.ts), through the optional `webgpu` package,
// whose absence is named with its install command; the other commands refuse it; unknown names too.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODEL = join(ROOT, 'test/fixtures/llama/llama-gqa');

function gift(env: Record<string, string>, ...args: string[]): { code: number; err: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status ?? -1, err: r.stderr };
}

let dawnInstalled = true;
try {
  createRequire(import.meta.url).resolve('webgpu');
} catch {
  dawnInstalled = false;
}

test('gift train --backend webgpu without the webgpu package names the package and its install', { skip: dawnInstalled ? 'the webgpu package is installed here' : false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-backend-'));
  writeFileSync(join(dir, 'd.jsonl'), '{"text": "the cat sat"}\n');
  for (const [env, flags] of [[{}, ['--backend', 'webgpu']], [{ GIFTJS_BACKEND: 'webgpu' }, []]] as const) {
    const r = gift(env, 'train', '--model', MODEL, '--data', join(dir, 'd.jsonl'), '--out', join(dir, 'out'), '--max-steps', '1', ...flags);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /the webgpu backend in Node needs the npm package webgpu, which is not installed \(giftjs leaves it optional\): npm install webgpu/);
  }
});

test('--backend: webgpu is refused by the commands that still read synchronously, and an unknown name is refused', () => {
  const evaluated = gift({ GIFTJS_BACKEND: 'webgpu' }, 'eval', '--model', MODEL, '--data', join(ROOT, 'package.json'));
  assert.equal(evaluated.code, 1);
  assert.match(evaluated.err, /the webgpu backend runs gift train only so far .*run gift eval on ref or native/);
  const unknown = gift({}, 'train', '--backend', 'cuda', '--model', MODEL);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /--backend must be ref, native or webgpu, got 'cuda'/);
});

// Folders mounted in memory (what a browser page does with fetched or picked files) load exactly
// as the same files on disk: config, safetensors weights, tokenizer, adapter. Files on disk are mapped
// in windows, which give the bytes a read gives.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fileExists, mountFolder, openRandomAccess, unmountFolder } from '../../src/io/files.js';
import { nativeAddon } from '../../src/backend/index.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { attachAdapter, loadAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const IDS = [1, 40, 7, 80, 22, 5];

const folderBytes = (dir: string) => Object.fromEntries(readdirSync(dir).map((n) => [n, new Uint8Array(readFileSync(join(dir, n)))]));

test('a model, tokenizer and adapter mounted in memory load as they do from disk', () => {
  const disk = join(FIXTURES, 'llama/llama-gqa');
  const adapterDir = mkdtempSync(join(tmpdir(), 'giftjs-mount-'));
  const trained = attachAdapter(LlamaForCausalLM.fromPretrained(disk), { method: 'gift', rank: 2, target_modules: ['q_proj', 'v_proj'] }, 3);
  for (const [, t] of trained.namedTrainable()) t.assign(Float32Array.from({ length: t.size }, (_, i) => Math.sin(i)));
  saveAdapter(adapterDir, trained, { path: disk, architecture: 'LlamaForCausalLM' });
  mountFolder('/memory/llama', folderBytes(disk));
  mountFolder('/memory/adapter/', folderBytes(adapterDir));
  try {
    const fromDisk = LlamaForCausalLM.fromPretrained(disk);
    loadAdapter(adapterDir, fromDisk);
    const fromMemory = LlamaForCausalLM.fromPretrained('/memory/llama');
    loadAdapter('/memory/adapter', fromMemory);
    const logits = (m: LlamaForCausalLM) => noGrad(() => m.forward(IDS, 1, IDS.length).toFloat32Array());
    assert.deepEqual(logits(fromMemory), logits(fromDisk));
    const text = 'the cat sat';
    if (fileExists(join(disk, 'tokenizer.json'))) assert.deepEqual(Tokenizer.fromFolder('/memory/llama').encode(text), Tokenizer.fromFolder(disk).encode(text));
    assert.equal(fileExists('/memory/llama/nothing.json'), false);
    assert.throws(() => LlamaForCausalLM.fromPretrained('/memory/adapter'), /\/memory\/adapter\/config\.json does not exist/);
    assert.throws(() => mountFolder('/memory/x', { 'a/b.json': new Uint8Array(1) }), /"a\/b.json" is not a file name/);
  } finally {
    unmountFolder('/memory/llama');
    unmountFolder('/memory/adapter');
  }
  assert.equal(fileExists('/memory/llama/config.json'), false, 'unmounted');
});

test('a file mapped in windows gives the bytes a read gives: inside a window, at its ends, across two, at the end of the file', { skip: nativeAddon() ? false : 'the native addon is not built on this machine' }, () => {
  const path = join(mkdtempSync(join(tmpdir(), 'giftjs-map-')), 'data.bin');
  const bytes = Uint8Array.from({ length: 3 * 8192 + 123 }, (_, i) => (i * 131 + (i >> 8)) & 0xff);
  writeFileSync(path, bytes);
  const file = openRandomAccess(path, 8192); // windows of two pages
  try {
    for (const [position, length] of [[0, 100], [5, 8187], [8191, 2], [8000, 9000], [16384, 8192], [3 * 8192, 123], [100, 3 * 8192]]) {
      const mapped = file.map!(position, length);
      assert.ok(mapped, `[${position}, +${length}) mapped`);
      assert.deepEqual(mapped, bytes.subarray(position, position + length), `[${position}, +${length})`);
    }
    assert.equal(file.map!(3 * 8192, 124), null, 'past the end: not mapped');
    const a = file.map!(10, 10)!;
    assert.equal(a.buffer, file.map!(20, 10)!.buffer, 'ranges of one window share its mapping');
  } finally {
    file.close();
  }
});

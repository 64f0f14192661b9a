// gift merge estimates its memory before loading (the weights in float32, as merging changes them, and
// the bfloat16 copies it writes back) and refuses a budget it would pass, naming the parts, instead of
// being killed while loading; within the budget it merges as before.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { estimateCausalLMMemory } from '../../src/train/memory_estimate.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { attachAdapter, saveAdapter } from '../../src/peft/adapter_io.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BF16 = join(ROOT, 'test/fixtures/llama/llama-bf16');

test('gift merge is refused past --memory-limit, naming what it needs; the estimate counts float32 weights and bf16 copies', () => {
  const model = loadCausalLM(BF16);
  const params = model.namedParameters().reduce((n, [, t]) => n + t.size, 0);
  const e = estimateCausalLMMemory(BF16, { command: 'merge', batch: 1, length: 1 });
  const weights = e.parts.find(([w]) => w.startsWith('frozen weights'))![1];
  const copies = e.parts.find(([w]) => w.startsWith('the written copies'))![1];
  assert.ok([...model.sourceDtypes.values()].every((d) => d === 'BF16'), 'the fixture stores every tensor as BF16');
  assert.equal(weights, 4 * params, 'every weight in float32');
  assert.equal(copies, 2 * params, 'every tensor written back as a bfloat16 copy');
  const adapterDir = join(mkdtempSync(join(tmpdir(), 'giftjs-merge-mem-')), 'adapter');
  saveAdapter(adapterDir, attachAdapter(model, { method: 'gift', rank: 2, target_modules: ['q_proj'] }), { path: BF16, architecture: model.config.architecture });
  const gift = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), 'merge', '--model', BF16, '--adapter', adapterDir, ...args], { encoding: 'utf8' });
  const refused = gift('--out', join(adapterDir, '..', 'merged'), '--memory-limit', '1M');
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /gift merge needs about .*frozen weights .*the written copies of the weights.*this process may use 1 MB \(--memory-limit\); nothing was loaded/);
  const merged = gift('--out', join(adapterDir, '..', 'merged'));
  assert.equal(merged.status, 0, merged.stderr);
  assert.match(merged.stderr, /memory: about /);
});

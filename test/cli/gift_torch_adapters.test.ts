// One adapter, two engines: GIFT adapters python/gift_torch made on transformers 5.17's own models of every
// causal-LM family giftjs reads (Mistral, Qwen2, Qwen3, Phi-3 and Phi-4-mini on the fused qkv_proj, Gemma 3,
// Gemma 2; tools/make_gift_torch_fixtures.py) load in `gift eval` and give the loss transformers computed
// through gift_torch's hooks.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const GIFT = fileURLToPath(new URL('../../../bin/gift.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const ADAPTERS = join(FIXTURES, 'gift_torch');

function evalLoss(...args: string[]): number {
  const r = spawnSync(process.execPath, [GIFT, 'eval', '--json', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `gift eval ${args.join(' ')} failed: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return (JSON.parse(lines[lines.length - 1]!) as { loss: number }).loss;
}

for (const family of readdirSync(ADAPTERS)) {
  test(`${family}: a GIFT adapter gift_torch made on transformers' model gives transformers' loss in gift eval`, () => {
    const ref = JSON.parse(readFileSync(join(ADAPTERS, family, 'reference.json'), 'utf8')) as { model: string; data: string; adapter_loss: number };
    const model = join(FIXTURES, ref.model);
    const data = join(FIXTURES, ref.data);
    const adapted = evalLoss('--model', model, '--data', data, '--adapter', join(ADAPTERS, family));
    assert.ok(Math.abs(adapted - ref.adapter_loss) < 1e-5, `giftjs ${adapted} vs transformers + gift_torch ${ref.adapter_loss}`);
    const base = (JSON.parse(readFileSync(join(model, 'cli_reference.json'), 'utf8')) as { loss: number }).loss;
    assert.ok(Math.abs(base - ref.adapter_loss) > 1e-4, `the adapter changes the loss by more than the tolerance (base ${base})`);
  });
}

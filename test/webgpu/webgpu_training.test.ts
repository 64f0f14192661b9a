// The trainer, models, ops and PEFT code run unchanged on the webgpu backend: a GIFT run on a small
// Llama (GQA, RoPE, SwiGLU, RMSNorm, gradient accumulation, clipping, AdamW, held-out loss) in
// headless Chromium gives the losses, gradient norms and adapter of the same run on `ref` in Node,
// within float32 tolerance (the GPU sums in float32 and in another order).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setBackend } from '../../src/backend/index.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { Random } from '../../src/tensor/random.js';
import { needsChromium, withBrowserPage } from './browser.js';
import { trainTinyLlama, type TinyResult, type TinyRun } from './tiny_training.js';

const ENTRY = fileURLToPath(new URL('./training_page.js', import.meta.url));
const MODEL = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa/', import.meta.url));

function tinyRun(): TinyRun {
  setBackend('ref');
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  const weights = Object.fromEntries(model.namedParameters().map(([n, t]) => [n, Array.from(t.read())]));
  const r = new Random(11);
  const examples = Array.from({ length: 6 }, (_, i) => {
    const ids = Array.from({ length: 5 + i }, () => 3 + (r.nextUint32() % 90));
    return { ids, labels: ids.map((id, j) => (j < 2 ? -100 : id)) }; // a prompt of 2 tokens without loss
  });
  return { config: JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')), weights, examples };
}

function relativeDifference(a: number[], b: number[]): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d / n);
}

test('a GIFT run on the webgpu backend in Chromium equals the same run on ref in Node', { skip: needsChromium, timeout: 300_000 }, async (t) => {
  const run = tinyRun();
  const expected = await trainTinyLlama(run);
  const got = await withBrowserPage(ENTRY, (page) =>
    page.evaluate((r) => (globalThis as unknown as { trainOnWebGpu: (r: TinyRun) => Promise<TinyResult> }).trainOnWebGpu(r), run),
  );
  assert.equal(got.losses.length, 4);
  assert.ok(expected.losses[3]! < expected.losses[0]!, 'the run learns');
  assert.ok(expected.gradNorms.some((g) => g > 0.5), 'clipping acted');
  for (const key of ['losses', 'gradNorms', 'heldOut'] as const) {
    assert.equal(got[key].length, expected[key].length, key);
    got[key].forEach((v, i) => assert.ok(Math.abs(v - expected[key][i]!) <= 1e-4 * Math.abs(expected[key][i]!), `${key}[${i}]: webgpu ${v}, ref ${expected[key][i]}`));
  }
  t.diagnostic(`losses: webgpu ${got.losses.join(', ')}; ref ${expected.losses.join(', ')}`);
  assert.deepEqual(Object.keys(got.trained), Object.keys(expected.trained));
  for (const [name, values] of Object.entries(expected.trained)) {
    const diff = relativeDifference(got.trained[name]!, values);
    t.diagnostic(`${name}: relative difference ${diff.toExponential(2)}`);
    assert.ok(diff < 1e-3, `${name}: relative difference ${diff.toExponential(2)}`);
  }
});

// --pack: examples packed into rows compute exactly what they compute one by one -- the same summed
// next-token loss and the same GIFT gradients -- because attention and positions restart at each
// example (segment ids), on Llama with GQA, Mistral with a sliding window and Gemma 3 (local and global
// layers), on both CPU backends. The packing itself: examples kept whole and in order, rows filled to
// --max-length, each example's first label dropped so no token is scored across a boundary.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collatePacked, packExamples } from '../../src/data/packing.js';
import type { Example } from '../../src/data/examples.js';
import { packedLayout, shiftLabels } from '../../src/models/causal_lm.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { Random } from '../../src/tensor/random.js';
import { assertClose, testEachBackend } from '../helpers.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

function examples(n: number, vocab: number, seed: number): Example[] {
  const r = new Random(seed);
  return Array.from({ length: n }, () => {
    const ids = Int32Array.from({ length: 3 + r.int(9) }, () => 3 + r.int(vocab - 3));
    const labels = Int32Array.from(ids);
    labels[1] = -100; // a prompt token without loss, as completions have
    return { ids, labels };
  });
}

test('examples are packed whole, in order, into rows of at most max-length tokens', () => {
  const ex = examples(20, 96, 1);
  const rows = packExamples(ex, 24);
  assert.deepEqual(rows.flatMap((r) => r.examples), ex, 'every example once, in order');
  assert.ok(rows.every((r) => r.ids.length <= 24 && r.ids.length === r.examples.reduce((n, e) => n + e.ids.length, 0)));
  rows.slice(0, -1).forEach((r, i) => assert.ok(r.ids.length + rows[i + 1]!.examples[0]!.ids.length > 24, 'a row closes only when the next example does not fit'));
  const b = collatePacked(rows.slice(0, 2), 0);
  const first = rows[0]!.examples;
  assert.deepEqual(Array.from(b.segments!.subarray(0, first[0]!.ids.length + 1)), [...new Array(first[0]!.ids.length).fill(1), 2]);
  assert.equal(b.labels[first[0]!.ids.length], -100, 'the second example\'s first token is no target');
  assert.throws(() => packExamples([{ ids: new Int32Array(30), labels: new Int32Array(30) }], 24), /an example of 30 tokens is longer than the rows' maxLength \(--max-length\) 24/);
  // From JavaScript, a NaN length had packed every example into one row.
  for (const n of [NaN, 2.5, 0]) assert.throws(() => packExamples(ex, n), new RegExp(`packing: maxLength \\(--max-length\\) must be a whole number of tokens >= 1, got ${n}`));
});

for (const [name, folder] of [['llama (GQA)', 'llama/llama-gqa'], ['mistral (sliding window 5)', 'sliding_window/mistral'], ['gemma3 (local and global layers)', 'gemma/gemma3']] as const) {
  testEachBackend(`${name}: a packed batch gives the summed loss and the GIFT gradients of its examples one by one`, () => {
    const model = loadCausalLM(join(FIXTURES, folder));
    const adapter = attachAdapter(model, { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'] }, 3);
    const r = new Random(9);
    for (const [, t] of adapter.namedTrainable()) t.writeHost((d) => d.forEach((_, i) => (d[i] = 0.2 * r.normal())));
    const ex = examples(7, model.config.vocabSize, 5);
    const trainable = adapter.namedTrainable().map(([, t]) => t);
    const grads = () => trainable.map((t) => t.grad!.toFloat32Array());
    // One by one.
    let alone = 0;
    for (const e of ex) {
      const loss = model.loss(e.ids, 1, e.ids.length, shiftLabels(e.labels, 1, e.ids.length), { reduction: 'sum' });
      alone += loss.item();
      loss.backward();
    }
    const aloneGrads = grads();
    for (const t of trainable) t.zeroGrad();
    // Packed: two rows.
    const batch = collatePacked(packExamples(ex, 30), 0);
    assert.ok(batch.batch >= 2, 'more than one row');
    const packed = model.loss(batch.ids, batch.batch, batch.seq, shiftLabels(batch.labels, batch.batch, batch.seq), { reduction: 'sum', segments: batch.segments });
    assert.ok(Math.abs(packed.item() - alone) < 1e-4 * Math.abs(alone), `packed ${packed.item()} vs one by one ${alone}`);
    packed.backward();
    grads().forEach((g, i) => assertClose(g, aloneGrads[i]!, `gradient ${i}`, 1e-4, 1e-3));
    for (const t of trainable) t.zeroGrad();
  });
}

test('segment ids must be contiguous runs; packing refuses a cache or an attention mask beside them', () => {
  assert.throws(() => packedLayout([1, 1, 2, 1], 1, 4), /segment 1 of row 0 is not one contiguous run/);
  assert.throws(() => packedLayout([1, 1, -1], 1, 3), /segments\[2\] is -1/);
  assert.deepEqual(Array.from(packedLayout([1, 1, 2, 2, 2, 0], 1, 6).positions), [0, 1, 0, 1, 2, 0]);
  const model = loadCausalLM(join(FIXTURES, 'llama/llama-gqa'));
  assert.throws(() => model.forward([1, 2, 3], 1, 3, { segments: [1, 1, 2], attentionMask: [1, 1, 1] }), /packed segments go without a KV cache or an attention mask/);
});

test('gift train --pack says how it packed, trains, and records pack in config.yaml', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-pack-'));
  const data = join(dir, 'train.jsonl');
  writeFileSync(data, Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: `line ${i} of the text` })).join('\n') + '\n');
  const out = join(dir, 'run');
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('../../../bin/gift.js', import.meta.url)), 'train', '--model', join(FIXTURES, 'llama/llama-gqa'),
    '--data', data, '--out', out, '--pack', '--max-length', '48', '--batch-size', '2', '--max-steps', '2', '--rank', '4'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /--pack: 12 examples in \d rows of up to 48 tokens/);
  assert.match(readFileSync(join(out, 'config.yaml'), 'utf8'), /^pack: true$/m);
});

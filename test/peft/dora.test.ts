// DoRA (LoRA with use_dora) against PEFT 0.21 itself: an adapter PEFT saved on every linear layer of a
// Mistral-shaped model (tools/make_dora_fixtures.py) gives PEFT's logits, loss and greedy tokens, merged and
// unmerged, and PEFT's gradients of every trained tensor -- the magnitudes' and, with the rows' norms held
// constant as DoRA prescribes, A's and B's; dropout's two-input form is checked against the formula.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { withBackend } from '../../src/backend/index.js';
import { refBackend } from '../../src/backend/ref/index.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { Linear } from '../../src/nn/layers.js';
import { Module } from '../../src/nn/module.js';
import { attachAdapter, loadAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { dropout } from '../../src/ops/dropout.js';
import { Random } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { assertClose, testEachBackend } from '../helpers.js';
import { checkAgainstTransformers, floatValues, reference, SEQ } from '../models/transformers_reference.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const BASE = join(FIXTURES, 'sliding_window/mistral');
const DORA = join(FIXTURES, 'dora/mistral-dora');

testEachBackend('a PEFT 0.21 DoRA adapter on every linear layer gives PEFT\'s logits, loss and greedy tokens, merged (as PEFT merges) and unmerged', () => {
  const model = loadCausalLM(BASE);
  const base = noGrad(() => model.forward(reference(DORA).ids, 2, SEQ).toFloat32Array());
  const adapter = loadAdapter(DORA, model);
  assert.equal(adapter.namedTrainable().filter(([n]) => n.endsWith('.lora_magnitude_vector')).length, 14, 'a magnitude per adapted layer');
  const ref = reference(DORA);
  checkAgainstTransformers(model, ref, 'DoRA', 3e-5);
  adapter.merge();
  const f = SafetensorsFile.open(join(DORA, 'merged.safetensors'));
  const merged = floatValues(f, 'logits');
  f.close();
  const logits = noGrad(() => model.forward(ref.ids, 2, SEQ, { attentionMask: ref.mask }).toFloat32Array());
  const realRows = (v: Float32Array) => Float32Array.from(ref.mask.flatMap((m, i) => (m ? Array.from(v.subarray(i * 96, (i + 1) * 96)) : [])));
  assertClose(realRows(logits), realRows(merged), 'DoRA merged: PEFT\'s merge_and_unload logits', 3e-5, 3e-5);
  checkAgainstTransformers(model, ref, 'DoRA merged', 3e-5);
  adapter.unmerge();
  adapter.merge();
  adapter.unmerge();
  checkAgainstTransformers(model, ref, 'DoRA unmerged again', 3e-5);
  assert.notDeepEqual(base, logits, 'the adapter changes the outputs');
});

testEachBackend('DoRA\'s gradients are PEFT\'s: the magnitudes\', and A\'s and B\'s through the rows\' norms held constant', () => {
  const model = loadCausalLM(BASE);
  const adapter = loadAdapter(DORA, model);
  const ref = reference(DORA);
  const f = SafetensorsFile.open(join(DORA, 'gradients.safetensors'));
  try {
    model.train();
    const row0 = ref.ids.slice(0, SEQ);
    const loss = model.loss(row0, 1, SEQ, Int32Array.from(row0.slice(1).concat([-100])), { ignoreIndex: -100 });
    assertClose([loss.item()], floatValues(f, 'loss'), 'DoRA training loss', 1e-5, 1e-5);
    loss.backward();
    const names = new Set([...f.tensors.keys()].filter((n) => n !== 'loss'));
    assert.deepEqual(new Set(adapter.namedTrainable().map(([n]) => n)), names, 'the trained tensors are PEFT\'s');
    for (const [name, t] of adapter.namedTrainable()) assertClose(t.grad!.toFloat32Array(), floatValues(f, name), `d loss / d ${name}`, 1e-5, 1e-3);
  } finally {
    f.close();
    model.eval();
  }
});

test('DoRA with dropout in training: the base output on the whole input, the rescaled rows\' change on the dropped one (PEFT\'s two-input form)', () => {
  const r = new Random(3);
  const holder = new (class extends Module {
    readonly proj = this.child('proj', new Linear(6, 5, r));
  })();
  const layer = holder.proj;
  const adapter = attachAdapter(holder, { method: 'lora', rank: 2, alpha: 4, target_modules: ['proj'], use_dora: true, dropout: 0.5 }, 4);
  const [[, A], [, B], [, m]] = adapter.namedTrainable() as [[string, Tensor], [string, Tensor], [string, Tensor]];
  B.assign(Float32Array.from({ length: B.size }, () => 0.3 * r.normal()));
  m.assign(m.toFloat32Array().map((v) => v * (1 + 0.2 * r.normal())));
  const x = Tensor.fromArray(Float32Array.from({ length: 3 * 6 }, () => r.normal()), [3, 6]);
  holder.train();
  (layer.adapter as unknown as { reseed(seed: number): void }).reseed(9);
  const y = noGrad(() => layer.forward(x).toFloat32Array());
  const xd = noGrad(() => dropout(x, 0.5, new Random(9), true).toFloat32Array());
  // The formula in float64: y = x W^T + b + (g - 1) (x' W^T) + g s (x' A^T) B^T, g = m / ||W + s B A|| by row.
  const [W, b, a, bb, mag, xv] = [layer.weight, layer.bias!, A, B, m, x].map((t) => t.toFloat32Array());
  const s = 2;
  const expected = new Float64Array(15);
  for (let o = 0; o < 5; o++) {
    let norm = 0;
    for (let i = 0; i < 6; i++) {
      let d = 0;
      for (let k = 0; k < 2; k++) d += bb[o * 2 + k]! * a[k * 6 + i]!;
      norm += (W[o * 6 + i]! + s * d) ** 2;
    }
    const g = mag[o]! / Math.sqrt(norm);
    for (let row = 0; row < 3; row++) {
      let full = b[o]!;
      let dropped = 0;
      let low = 0;
      for (let i = 0; i < 6; i++) {
        full += xv[row * 6 + i]! * W[o * 6 + i]!;
        dropped += xd[row * 6 + i]! * W[o * 6 + i]!;
        for (let k = 0; k < 2; k++) low += xd[row * 6 + i]! * a[k * 6 + i]! * bb[o * 2 + k]!;
      }
      expected[row * 5 + o] = full + (g - 1) * dropped + g * s * low;
    }
  }
  assertClose(y, Float32Array.from(expected), 'DoRA with dropout', 1e-5, 1e-5);
  assert.notDeepEqual(xd, xv, 'the dropout dropped something');
});

test('a DoRA adapter giftjs saves is PEFT\'s: use_dora in adapter_config.json, lora_magnitude_vector beside lora_A and lora_B, and it loads back', () => {
  const model = loadCausalLM(BASE);
  const adapter = attachAdapter(model, { method: 'lora', rank: 4, alpha: 8, target_modules: ['q_proj', 'v_proj'], use_dora: true }, 1);
  const out = join(mkdtempSync(join(tmpdir(), 'giftjs-dora-')), 'adapter');
  const r = new Random(2);
  for (const [, t] of adapter.namedTrainable()) t.assign(t.toFloat32Array().map((v) => v + 0.1 * r.normal()));
  saveAdapter(out, adapter, { path: BASE, architecture: 'MistralForCausalLM' });
  const config = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.use_dora, true);
  assert.equal(config.peft_type, 'LORA');
  const before = noGrad(() => model.forward([5, 6, 7, 8], 1, 4).toFloat32Array());
  const again = loadCausalLM(BASE);
  loadAdapter(out, again);
  assert.deepEqual(noGrad(() => again.forward([5, 6, 7, 8], 1, 4).toFloat32Array()), before);
});

test('DoRA on a backend whose memory the host reads only asynchronously (webgpu) is refused by name when attached', () => {
  const model = loadCausalLM(BASE);
  const asyncOnly = { ...refBackend, memory: { ...refBackend.memory, space: 'webgpu' } };
  assert.throws(() => withBackend(asyncOnly, () => attachAdapter(model, { method: 'lora', rank: 2, target_modules: ['q_proj'], use_dora: true })),
    /DoRA \(use_dora\) runs on the CPU backends \(native, ref\); the webgpu backend trains LoRA without it/);
});

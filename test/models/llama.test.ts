// LlamaForCausalLM, GIFT and LoRA against PyTorch: tools/make_llama_fixtures.py wrote tiny random
// checkpoints (GQA, tied + llama3 rope scaling + explicit head_dim, Qwen2 biases, bf16 storage)
// with the reference logits, losses and adapter gradients.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { LlamaForCausalLM, shiftLabels } from '../../src/models/llama/model.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { tidy } from '../../src/tensor/memory.js';
import { assertClose } from '../helpers.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/llama/', import.meta.url));
const NAMES = ['llama-gqa', 'llama3-scaled-tied', 'qwen2-bias', 'llama-bf16'];

function reference(name: string) {
  const f = SafetensorsFile.open(join(FIXTURES, name, 'reference.safetensors'));
  const ids = f.readIntegers('input_ids');
  const labels = f.readIntegers('labels').values;
  const get = (n: string) => f.readTensor(n);
  return { f, ids: Int32Array.from(ids.values), batch: ids.shape[0]!, seq: ids.shape[1]!, labels, get };
}

const ADAPTERS = {
  gift: { method: 'gift', rank: 4, alpha: 8, target_modules: ['q_proj', 'v_proj'] },
  lora: { method: 'lora', rank: 4, alpha: 8, target_modules: ['q_proj', 'v_proj'] },
};

for (const name of NAMES) {
  test(`${name}: logits and loss match PyTorch`, () => {
    const ref = reference(name);
    const model = LlamaForCausalLM.fromPretrained(join(FIXTURES, name));
    tidy(() => noGrad(() => {
      const logits = model.forward(ref.ids, ref.batch, ref.seq);
      assertClose(logits.data, ref.get('logits').data, `${name} logits`, 1e-4, 1e-4);
      const loss = crossEntropy(logits, shiftLabels(ref.labels, ref.batch, ref.seq));
      assertClose([loss.item()], ref.get('loss').data, `${name} loss`, 1e-5, 1e-5);
    }));
    ref.f.close();
    model.dispose();
  });

  for (const method of ['gift', 'lora'] as const) {
    test(`${name}: ${method} loss and gradients match PyTorch`, () => {
      const ref = reference(name);
      const model = LlamaForCausalLM.fromPretrained(join(FIXTURES, name));
      const adapter = attachAdapter(model, ADAPTERS[method]);
      adapter.loadTensors((n) => (ref.f.tensors.has(n) ? ref.get(n) : undefined), 'reference');
      const params = adapter.namedTrainable();
      // Only the adapter trains: every base parameter is frozen.
      assert.ok(model.parameters().every((p) => !p.requiresGrad));
      tidy(() => {
        const loss = crossEntropy(model.forward(ref.ids, ref.batch, ref.seq), shiftLabels(ref.labels, ref.batch, ref.seq));
        assertClose([loss.item()], ref.get(`${method}.loss`).data, `${name} ${method} loss`, 1e-5, 1e-5);
        loss.backward();
      });
      for (const [n, t] of params) assertClose(t.grad!.data, ref.get(`grad.${n}`).data, `${name} grad ${n}`, 1e-5, 2e-4);
      ref.f.close();
      model.dispose();
    });
  }
}

test('GIFT: trainable parameters are 2 * in * rank per group, whatever the depth', () => {
  const model = LlamaForCausalLM.fromPretrained(join(FIXTURES, 'llama-gqa'));
  const gift = attachAdapter(model, { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'] });
  assert.equal(gift.trainableCount(), 2 * (2 * 32 * 4));
  assert.equal(gift.namedTrainable().length, 4);
  const lora = attachAdapter(LlamaForCausalLM.fromPretrained(join(FIXTURES, 'llama-gqa')), { method: 'lora', rank: 4, target_modules: ['q_proj', 'v_proj'] });
  // per layer: q (32 -> 32) and v (32 -> 16): r * (in + out)
  assert.equal(lora.trainableCount(), 2 * (4 * (32 + 32) + 4 * (32 + 16)));
  const shared = attachAdapter(LlamaForCausalLM.fromPretrained(join(FIXTURES, 'llama-gqa')), { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'], share: 'input-size' });
  assert.equal(shared.trainableCount(), 2 * 32 * 4, 'one pair for all targets of input size 32');
  const layer1 = attachAdapter(LlamaForCausalLM.fromPretrained(join(FIXTURES, 'llama-gqa')), { method: 'gift', rank: 4, target_modules: ['q_proj'], layers: [1] });
  assert.equal(layer1.trainableCount(), 2 * 32 * 4);
});

test('GIFT starts exactly at the pretrained model (psi = 0)', () => {
  const ref = reference('llama-gqa');
  const model = LlamaForCausalLM.fromPretrained(join(FIXTURES, 'llama-gqa'));
  attachAdapter(model, { method: 'gift', rank: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'] }, 7);
  noGrad(() => assertClose(model.forward(ref.ids, ref.batch, ref.seq).data, ref.get('logits').data, 'untrained GIFT = base', 1e-4, 1e-4));
  ref.f.close();
});

for (const method of ['gift', 'lora'] as const) {
  test(`${method}: merge gives the adapter's logits without it, unmerge restores the base`, () => {
    const ref = reference('llama3-scaled-tied');
    const model = LlamaForCausalLM.fromPretrained(join(FIXTURES, 'llama3-scaled-tied'));
    const adapter = attachAdapter(model, ADAPTERS[method]);
    adapter.loadTensors((n) => (ref.f.tensors.has(n) ? ref.get(n) : undefined), 'reference');
    noGrad(() => {
      const withAdapter = model.forward(ref.ids, ref.batch, ref.seq).toFloat32Array();
      adapter.merge();
      assert.ok(model.namedModules().every(([, m]) => !('adapter' in m) || (m as { adapter: unknown }).adapter === null));
      assertClose(model.forward(ref.ids, ref.batch, ref.seq).data, withAdapter, `${method} merged`, 1e-4, 1e-4);
      adapter.unmerge();
      adapter.merge();
      adapter.unmerge();
      assertClose(model.forward(ref.ids, ref.batch, ref.seq).data, withAdapter, `${method} unmerged (adapter back on)`, 1e-4, 1e-4);
    });
    ref.f.close();
  });
}

test('a target that matches nothing, and mismatched group sizes, are clear errors', () => {
  const model = LlamaForCausalLM.fromPretrained(join(FIXTURES, 'llama-gqa'));
  assert.throws(() => attachAdapter(model, { method: 'gift', rank: 4, target_modules: ['query'] }), /target 'query' matches no Linear layer; the model's linear layers are named like: self_attn.q_proj/);
  assert.throws(() => attachAdapter(model, { method: 'gift', rank: 4, target_modules: ['q_proj'], layers: [5] }), /layers 5 are not in this model \(its layers: 0-1\)/);
  assert.throws(() => attachAdapter(model, { method: 'gift', rank: 0, target_modules: ['q_proj'] }), /'rank' must be a positive integer/);
  assert.throws(() => attachAdapter(model, { method: 'bitfit' }), /no bias parameters/);
  assert.throws(() => attachAdapter(model, { method: 'ia3' }), /unknown method 'ia3' \(choose one of gift, lora, full, bitfit, head\)/);
  assert.throws(() => attachAdapter(model, { method: 'dora' }), /method 'dora' is LoRA with DoRA's magnitudes \(PEFT's use_dora\): use --method lora --use-dora/);
});

// Phi-3.5's and Phi-4-mini's RoPE against transformers 5.17 itself: folders written by save_pretrained
// with PyTorch's outputs beside them (tools/make_phi_longrope_fixtures.py). LongRoPE divides each
// frequency by a short factor while a forward's positions stay within the pretraining length and by a
// long one past it (texts of 14 ids against 8 here, so the full forward is long and greedy decoding
// switches from short to long mid-way, as transformers does per forward), and scales cos and sin by
// sqrt(1 + ln(max / original) / ln(original)); Phi-4-mini rotates the first 0.75 of each head only.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { parseLlamaConfig } from '../../src/models/llama/config.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { shiftLabels } from '../../src/models/causal_lm.js';
import { attachAdapter, loadAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Random } from '../../src/tensor/random.js';
import { tidy } from '../../src/tensor/memory.js';
import { testEachBackend } from '../helpers.js';
import { checkAgainstTransformers, reference, SEQ } from './transformers_reference.js';

const DIR = fileURLToPath(new URL('../../../test/fixtures/phi_longrope', import.meta.url));

testEachBackend('Phi-3.5 (LongRoPE) and Phi-4-mini (LongRoPE over 6 of 8 dimensions) give transformers\' logits, loss and greedy tokens', () => {
  for (const [name, rotaryDim] of [['phi35', 8], ['phi4mini', 6]] as const) {
    const model = LlamaForCausalLM.fromPretrained(join(DIR, name));
    assert.equal(model.config.rotaryDim, rotaryDim, name);
    assert.equal(model.config.ropeScaling?.type, 'longrope');
    checkAgainstTransformers(model, reference(join(DIR, name)), name);
  }
});

testEachBackend('a PEFT 0.21 LoRA adapter on every linear layer of Phi-4-mini gives PEFT\'s outputs, merged and unmerged', () => {
  const model = LlamaForCausalLM.fromPretrained(join(DIR, 'phi4mini'));
  const adapter = loadAdapter(join(DIR, 'phi4mini-lora'), model);
  const ref = reference(join(DIR, 'phi4mini-lora'));
  checkAgainstTransformers(model, ref, 'phi4mini LoRA', 3e-5);
  adapter.merge();
  checkAgainstTransformers(model, ref, 'phi4mini LoRA merged', 3e-5);
});

test('the long factors and the attention factor matter here: without them the logits differ', () => {
  const ref = reference(join(DIR, 'phi35'));
  const row = ref.ids.slice(0, SEQ);
  const logits = (edit: (m: LlamaForCausalLM) => void) => {
    const m = LlamaForCausalLM.fromPretrained(join(DIR, 'phi35'));
    edit(m);
    return noGrad(() => m.forward(row, 1, SEQ).toFloat32Array());
  };
  const base = logits(() => {});
  const shortOnly = logits((m) => Object.assign(m.config.ropeScaling!, { originalMaxPositionEmbeddings: 64 }));
  const unscaled = logits((m) => Object.assign(m.config.ropeScaling!, { attentionFactor: 1 }));
  for (const [label, other] of [['short factors only', shortOnly], ['no attention factor', unscaled]] as const) {
    assert.ok(other.some((x, i) => Math.abs(x - base[i]!) > 1e-3), `${label}: other logits`);
  }
});

test('GIFT trains through the partial rotary (its gradient is finite differences\' on Phi-4-mini)', () => {
  const model = LlamaForCausalLM.fromPretrained(join(DIR, 'phi4mini'));
  const gift = attachAdapter(model, { method: 'gift', rank: 2, target_modules: ['qkv_proj'] }, 1);
  const r = new Random(2);
  for (const [, t] of gift.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = 0.2 * r.normal();
  const ids = reference(join(DIR, 'phi4mini')).ids.slice(0, 10);
  const loss = () => tidy(() => crossEntropy(model.forward(ids, 1, 10), shiftLabels(ids, 1, 10)).item());
  const analytic = tidy(() => {
    const l = crossEntropy(model.forward(ids, 1, 10), shiftLabels(ids, 1, 10));
    l.backward();
    return gift.namedTrainable().map(([, t]) => t.grad!.toFloat32Array());
  });
  gift.namedTrainable().forEach(([name, t], k) => {
    for (const i of [0, 7, t.size - 1]) {
      const x = t.data[i]!;
      t.data[i] = x + 1e-2;
      const up = loss();
      t.data[i] = x - 1e-2;
      const down = loss();
      t.data[i] = x;
      const numeric = (up - down) / 2e-2;
      assert.ok(Math.abs(numeric - analytic[k]![i]!) <= 2e-3 + 2e-2 * Math.abs(numeric), `${name}[${i}]: analytic ${analytic[k]![i]} vs numeric ${numeric}`);
    }
  });
});

test('LongRoPE and partial rotary are read as transformers reads them, and refused by name where not implemented', () => {
  const base = { architectures: ['Phi3ForCausalLM'], vocab_size: 16, hidden_size: 32, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 4, max_position_embeddings: 131072 };
  const longrope = { type: 'longrope', short_factor: [1, 1, 1, 1], long_factor: [1, 2, 3, 4] };
  // transformers 4's layout (Phi-3.5-mini's config.json): rope_scaling and a top-level original length.
  const c = parseLlamaConfig({ ...base, rope_scaling: longrope, original_max_position_embeddings: 4096 });
  const s = c.ropeScaling!;
  assert.ok(s.type === 'longrope');
  assert.equal(s.factor, 32);
  assert.ok(Math.abs(s.attentionFactor - Math.sqrt(1 + Math.log(32) / Math.log(4096))) < 1e-15, 'the paper\'s attention factor');
  assert.equal(parseLlamaConfig({ ...base, partial_rotary_factor: 0.75, rope_scaling: { ...longrope, short_factor: [1, 1, 1], long_factor: [1, 1, 1] }, original_max_position_embeddings: 4096 }).rotaryDim, 6);
  assert.throws(() => parseLlamaConfig({ ...base, rope_scaling: longrope }), /longrope' needs original_max_position_embeddings/);
  assert.throws(() => parseLlamaConfig({ ...base, rope_scaling: { ...longrope, short_factor: [1, 1] }, original_max_position_embeddings: 4096 }), /short_factor has 2 values and long_factor 4/);
  assert.throws(() => parseLlamaConfig({ ...base, partial_rotary_factor: 0.75, rope_scaling: longrope, original_max_position_embeddings: 4096 }), /have 4 values; the 6 rotated dimensions of a head need 3/);
  assert.throws(() => parseLlamaConfig({ ...base, architectures: ['LlamaForCausalLM'], rope_scaling: longrope, original_max_position_embeddings: 4096 }), /type "longrope" is not supported for this architecture \(giftjs implements it for Phi3ForCausalLM\)/);
  assert.throws(() => parseLlamaConfig({ ...base, architectures: ['LlamaForCausalLM'], partial_rotary_factor: 0.5 }), /partial_rotary_factor 0.5 is not supported for this architecture/);
  assert.throws(() => parseLlamaConfig({ ...base, partial_rotary_factor: 0.75, rope_parameters: { rope_type: 'default', partial_rotary_factor: 0.5 } }), /partial_rotary_factor 0.75 and rope_parameters.partial_rotary_factor 0.5 disagree/);
});

test('a KV cache made with the short factors is refused once the text passes the pretraining length (generate rebuilds it)', () => {
  const model = LlamaForCausalLM.fromPretrained(join(DIR, 'phi35'));
  const ids = reference(join(DIR, 'phi35')).ids.slice(0, 9);
  const cache = model.newCache();
  noGrad(() => model.forward(ids.slice(0, 8), 1, 8, { cache }).dispose());
  assert.equal(cache.reusableUpTo, 8);
  assert.throws(() => noGrad(() => model.forward(ids.slice(8), 1, 1, { cache })), /the KV cache holds keys rotated with LongRoPE's short factors; past 8 positions it must be rebuilt/);
  cache.dispose();
});

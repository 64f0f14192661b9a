// Gemma 3 (text), Gemma 2 and Gemma against transformers 5.17 itself: folders written by save_pretrained
// with PyTorch's outputs beside them (tools/make_gemma_fixtures.py) -- (1 + w) norms, four per block
// (two in Gemma), q/k norms, GELU (tanh; Gemma's erf form as its hub configs name it) gated MLP,
// embeddings scaled by sqrt(hidden), query_pre_attn_scalar, local sliding layers with their own RoPE
// next to global ones with linear scaling, soft-capped attention scores and logits (Gemma 2) -- in
// float32 and bfloat16, with left padding, the loss, greedy generation through the KV cache past the
// window, and a PEFT 0.21 LoRA adapter on every linear layer.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GemmaForCausalLM } from '../../src/models/gemma/model.js';
import { parseGemmaConfig } from '../../src/models/gemma/config.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { loadAdapter } from '../../src/peft/adapter_io.js';
import { testEachBackend } from '../helpers.js';
import { checkAgainstTransformers, reference } from './transformers_reference.js';

const DIR = fileURLToPath(new URL('../../../test/fixtures/gemma', import.meta.url));

testEachBackend('Gemma 3, Gemma 2 and Gemma (float32) give transformers\' logits, loss and greedy tokens', () => {
  for (const name of ['gemma3', 'gemma2', 'gemma1']) {
    const model = loadCausalLM(join(DIR, name));
    assert.ok(model instanceof GemmaForCausalLM, `${name} loads through the registry as Gemma`);
    if (name === 'gemma2') assert.deepEqual([model.config.attnLogitSoftcap, model.config.finalLogitSoftcap], [0.6, 3]);
    if (name === 'gemma1') {
      assert.deepEqual([model.config.sandwichNorms, model.config.geluApproximation, model.config.attentionScale], [false, 'none', 0.25]);
      assert.equal(model.model.layers[0]!.pre_feedforward_layernorm, null, 'Gemma: two norms a block');
    }
    checkAgainstTransformers(model, reference(join(DIR, name)), name);
  }
});

test('Gemma 3 saved in bfloat16 (untied head): the outputs of its bf16 weights in float32', () => {
  const model = GemmaForCausalLM.fromPretrained(join(DIR, 'gemma3-bf16'), { keepStoredDtype: true });
  assert.equal(model.lm_head?.weight.dtype, 'bfloat16');
  checkAgainstTransformers(model, reference(join(DIR, 'gemma3-bf16')), 'gemma3-bf16');
});

testEachBackend('a PEFT 0.21 LoRA adapter on every linear layer of Gemma 3, Gemma 2 and Gemma gives PEFT\'s outputs, merged and unmerged', () => {
  for (const name of ['gemma3', 'gemma2', 'gemma1']) {
    const model = GemmaForCausalLM.fromPretrained(join(DIR, name));
    const adapter = loadAdapter(join(DIR, `${name}-lora`), model);
    const ref = reference(join(DIR, `${name}-lora`));
    checkAgainstTransformers(model, ref, `${name} LoRA`, 3e-5);
    adapter.merge();
    checkAgainstTransformers(model, ref, `${name} LoRA merged`, 3e-5);
  }
});

test('Gemma configs are read as transformers reads them (both layouts), and what is not implemented is refused by name', () => {
  const base = { architectures: ['Gemma3ForCausalLM'], vocab_size: 16, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 7, num_attention_heads: 2, head_dim: 4 };
  const parse = (extra: Record<string, unknown>) => parseGemmaConfig({ ...base, ...extra });
  // transformers 4's layout, as the hub's Gemma 3 folders are written: rope_theta, rope_scaling, rope_local_base_freq.
  const legacy = parse({ sliding_window: 512, rope_theta: 1e6, rope_local_base_freq: 1e4, rope_scaling: { rope_type: 'linear', factor: 8 } });
  assert.deepEqual(legacy.layerWindows, [512, 512, 512, 512, 512, 0, 512], 'every sixth layer is global');
  assert.deepEqual(legacy.globalRope, { theta: 1e6, scaling: { type: 'linear', factor: 8 } });
  assert.deepEqual(legacy.localRope, { theta: 1e4, scaling: null });
  assert.equal(parse({ query_pre_attn_scalar: 16 }).attentionScale, 0.25);
  const gemma2 = parse({ architectures: ['Gemma2ForCausalLM'], num_hidden_layers: 3 });
  assert.deepEqual(gemma2.layerWindows, [4096, 0, 4096], 'Gemma 2: every second layer global');
  assert.deepEqual([gemma2.attnLogitSoftcap, gemma2.finalLogitSoftcap], [50, 30], 'Gemma 2 caps by default');
  assert.deepEqual([legacy.attnLogitSoftcap, legacy.finalLogitSoftcap], [null, null], 'Gemma 3 does not');
  assert.throws(() => parse({ attn_logit_softcapping: -1 }), /'attn_logit_softcapping' must be a positive number, got -1/);
  assert.throws(() => parse({ architectures: ['Gemma3ForConditionalGeneration'] }), /Gemma3ForConditionalGeneration \(text and images\) is not supported/);
  assert.throws(() => parse({ hidden_activation: 'relu' }), /hidden_activation "relu" is not supported \(supported: gelu_pytorch_tanh, gelu\)/);
  assert.equal(parse({ hidden_act: 'relu' }).geluApproximation, 'tanh', 'Gemma 3 reads hidden_activation only, as transformers does');
  // Gemma (1): hidden_act, 1/sqrt(head_dim) whatever query_pre_attn_scalar says, every layer global, nothing capped.
  const gemma1 = (extra: Record<string, unknown>) => parse({ architectures: ['GemmaForCausalLM'], query_pre_attn_scalar: 16, sliding_window: 2, final_logit_softcapping: 30, ...extra });
  assert.deepEqual([gemma1({}).geluApproximation, gemma1({ hidden_act: 'gelu' }).geluApproximation], ['tanh', 'none']);
  // transformers 5.17's Gemma MLP reads hidden_act alone: with hidden_activation gelu_pytorch_tanh beside "gelu" it computes the erf form.
  assert.equal(gemma1({ hidden_act: 'gelu', hidden_activation: 'gelu_pytorch_tanh' }).geluApproximation, 'none');
  assert.deepEqual([gemma1({}).attentionScale, gemma1({}).layerWindows, gemma1({}).finalLogitSoftcap, gemma1({}).sandwichNorms], [0.5, [0, 0, 0, 0, 0, 0, 0], null, false]);
  assert.deepEqual(parseGemmaConfig({ ...base, architectures: undefined, model_type: 'gemma' }).architecture, 'GemmaForCausalLM');
  assert.throws(() => gemma1({ hidden_act: 'silu' }), /hidden_act "silu" is not supported \(supported: gelu_pytorch_tanh, gelu\)/);
  assert.throws(() => parse({ use_bidirectional_attention: true }), /use_bidirectional_attention true is not supported/);
  assert.throws(() => parse({ rope_parameters: { full_attention: { rope_type: 'yarn', factor: 4, rope_theta: 1e6 } } }), /rope_parameters\.full_attention type "yarn" is not supported/);
  assert.throws(() => parse({ layer_types: ['full_attention'] }), /'layer_types' must list one name per layer \(7\)/);
});

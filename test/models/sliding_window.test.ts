// Sliding-window attention against transformers 5.17 itself: folders written by save_pretrained with
// PyTorch's outputs beside them (tools/make_sliding_window_fixtures.py) -- Mistral's window on every
// layer, Qwen2's from max_window_layers on, Qwen3's per layer_types -- on texts longer than the
// windows: logits with left padding, the loss, greedy generation with the KV cache past the window,
// and a PEFT 0.21 LoRA adapter on every linear layer.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { parseLlamaConfig } from '../../src/models/llama/config.js';
import { loadAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { assertClose, testEachBackend } from '../helpers.js';
import { checkAgainstTransformers, reference, SEQ } from './transformers_reference.js';

const DIR = fileURLToPath(new URL('../../../test/fixtures/sliding_window', import.meta.url));

testEachBackend('Mistral, Qwen2, Qwen3 and Phi-3 with sliding windows shorter than the text give transformers\' logits, loss and greedy tokens', () => {
  for (const [name, windows] of [['mistral', [5, 5]], ['qwen2', [0, 4]], ['qwen3', [3, 0]], ['phi3', [5, 5]]] as const) {
    const model = LlamaForCausalLM.fromPretrained(join(DIR, name));
    assert.deepEqual(model.config.layerWindows, windows, `${name}: each layer's window as transformers decides it`);
    checkAgainstTransformers(model, reference(join(DIR, name)), name);
  }
});

test('the windows matter here: the same weights attending to every position give other logits', () => {
  const model = LlamaForCausalLM.fromPretrained(join(DIR, 'mistral'));
  const ref = reference(join(DIR, 'mistral'));
  const full = LlamaForCausalLM.fromPretrained(join(DIR, 'mistral'));
  Object.assign(full.config, { layerWindows: [0, 0] }); // the layers read their window from the config at each call
  const a = noGrad(() => full.forward(ref.ids.slice(0, SEQ), 1, SEQ).toFloat32Array());
  const b = noGrad(() => model.forward(ref.ids.slice(0, SEQ), 1, SEQ).toFloat32Array());
  const vocab = model.config.vocabSize;
  // Positions inside the first window see the same keys; later ones do not.
  assertClose(a.subarray(0, 5 * vocab), b.subarray(0, 5 * vocab), 'inside the window', 1e-6, 1e-6);
  assert.ok(a.subarray(5 * vocab).some((x, i) => Math.abs(x - b[5 * vocab + i]!) > 1e-3), 'past the window the logits differ');
});

testEachBackend('a PEFT 0.21 LoRA adapter on every linear layer (Mistral, Qwen2, Qwen3; Phi-3\'s fused qkv_proj and gate_up_proj) gives PEFT\'s outputs, merged and unmerged', () => {
  for (const name of ['mistral', 'qwen2', 'qwen3', 'phi3']) {
    const model = LlamaForCausalLM.fromPretrained(join(DIR, name));
    const adapter = loadAdapter(join(DIR, `${name}-lora`), model);
    const ref = reference(join(DIR, `${name}-lora`));
    checkAgainstTransformers(model, ref, `${name} LoRA`, 3e-5);
    adapter.merge();
    checkAgainstTransformers(model, ref, `${name} LoRA merged`, 3e-5);
  }
});

test('layer_types and sliding_window are read as transformers reads them, and refused by name when malformed', () => {
  const base = { architectures: ['Qwen2ForCausalLM'], vocab_size: 16, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 3, num_attention_heads: 2 };
  const windows = (extra: Record<string, unknown>) => parseLlamaConfig({ ...base, ...extra }).layerWindows;
  assert.deepEqual(windows({ sliding_window: 4 }), [0, 0, 0], 'Qwen2 without use_sliding_window attends to everything');
  assert.deepEqual(windows({ use_sliding_window: true, sliding_window: 4, max_window_layers: 2 }), [0, 0, 4]);
  assert.deepEqual(windows({ use_sliding_window: true, sliding_window: 4, layer_types: ['sliding_attention', 'full_attention', 'sliding_attention'] }), [4, 0, 4]);
  assert.deepEqual(windows({ architectures: ['MistralForCausalLM'], sliding_window: 6, layer_types: ['full_attention', 'full_attention', 'full_attention'] }), [6, 6, 6], 'Mistral reads sliding_window on every layer');
  assert.deepEqual(windows({ architectures: ['MistralForCausalLM'], sliding_window: null }), [0, 0, 0]);
  assert.throws(() => windows({ layer_types: ['full_attention'] }), /'layer_types' must list one name per layer \(3\)/);
  assert.throws(() => windows({ layer_types: ['full_attention', 'chunked_attention', 'full_attention'] }), /layer_types "chunked_attention" is not supported \(supported: full_attention, sliding_attention\)/);
  assert.throws(() => windows({ architectures: ['LlamaForCausalLM'], layer_types: ['sliding_attention', 'full_attention', 'full_attention'] }), /'sliding_attention' is not supported for LlamaForCausalLM/);
  assert.throws(() => windows({ use_sliding_window: true, sliding_window: 2.5 }), /'sliding_window' must be null or a positive integer, got 2.5/);
});

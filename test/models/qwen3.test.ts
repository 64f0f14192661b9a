// Qwen3 against transformers 5.17 itself: folders written by Qwen3ForCausalLM.save_pretrained with
// PyTorch's outputs beside them (tools/make_qwen3_fixtures.py) -- per-head RMSNorm on q and k before
// RoPE, head_dim independent of hidden / heads, no q/k/v bias -- in float32 and bfloat16, greedy
// generation with the KV cache, and a LoRA adapter saved by PEFT 0.21.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generate } from '../../src/generate/generate.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { loadAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { floatValues } from './transformers_reference.js';
import { assertClose, testEachBackend } from '../helpers.js';

const DIR = fileURLToPath(new URL('../../../test/fixtures/qwen3', import.meta.url));

function reference(folder: string): { ids: number[]; logits: Float32Array; greedy: number[] | null } {
  const f = SafetensorsFile.open(join(folder, 'reference.safetensors'));
  try {
    const logits = floatValues(f, 'logits');
    const greedy = f.tensors.has('greedy') ? f.readIntegers('greedy').values : null;
    return { ids: f.readIntegers('input_ids').values, logits, greedy };
  } finally {
    f.close();
  }
}

const logitsOf = (model: LlamaForCausalLM, ids: number[]) => noGrad(() => model.forward(ids, 2, ids.length / 2).toFloat32Array());

testEachBackend('Qwen3 (float32, tied): PyTorch\'s logits and greedy continuation with the KV cache', () => {
  const model = LlamaForCausalLM.fromPretrained(join(DIR, 'qwen3'));
  assert.equal(model.config.architecture, 'Qwen3ForCausalLM');
  assert.equal(model.config.headDim, 16, 'head_dim as config.json says, not hidden / heads (8)');
  assert.equal(model.config.qkvBias, false);
  assert.deepEqual(model.model.layers[0]!.self_attn.q_norm!.weight.shape, [16]);
  const ref = reference(join(DIR, 'qwen3'));
  assertClose(logitsOf(model, ref.ids), ref.logits, 'logits', 1e-5, 1e-5);
  const prompt = ref.greedy!.slice(0, 8);
  assert.deepEqual(generate(model, prompt, { maxNewTokens: 8 }), ref.greedy!.slice(8), 'greedy tokens');
});

test('Qwen3 saved in bfloat16 (untied head): the logits of its bf16 weights in float32', () => {
  const model = LlamaForCausalLM.fromPretrained(join(DIR, 'qwen3-bf16'), { keepStoredDtype: true });
  assert.equal(model.lm_head?.weight.dtype, 'bfloat16');
  const ref = reference(join(DIR, 'qwen3-bf16'));
  assertClose(logitsOf(model, ref.ids), ref.logits, 'logits', 1e-5, 1e-5);
  assert.deepEqual(generate(model, ref.greedy!.slice(0, 8), { maxNewTokens: 8 }), ref.greedy!.slice(8));
});

test('a PEFT 0.21 LoRA adapter of Qwen3 gives PEFT\'s logits, merged and unmerged', () => {
  const model = LlamaForCausalLM.fromPretrained(join(DIR, 'qwen3'));
  const adapter = loadAdapter(join(DIR, 'lora'), model);
  const ref = reference(join(DIR, 'lora'));
  assertClose(logitsOf(model, ref.ids), ref.logits, 'adapted logits', 1e-5, 1e-5);
  adapter.merge();
  assertClose(logitsOf(model, ref.ids), ref.logits, 'merged logits', 1e-5, 1e-5);
});

// YaRN RoPE scaling (Qwen3's context extension, among others) against transformers 5.17 itself: folders
// written by save_pretrained with PyTorch's outputs beside them (tools/make_yarn_fixtures.py). Each
// frequency is blended between itself and itself / factor along a ramp over the dimensions, at every
// position, and cos and sin are scaled by the attention factor: 0.1 ln(factor) + 1 on the Qwen3
// folder (the ramp's ends truncated), the ratio of two such with mscale and mscale_all_dim on the
// Llama one (truncate false: a fractional ramp).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { readFileSync } from 'node:fs';
import { llamaInverseFrequencies, parseLlamaConfig } from '../../src/models/llama/config.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { testEachBackend } from '../helpers.js';
import { checkAgainstTransformers, floatValues, reference, SEQ } from './transformers_reference.js';

const DIR = fileURLToPath(new URL('../../../test/fixtures/yarn', import.meta.url));
const FOLDERS = ['qwen3-yarn', 'llama-yarn'] as const;

/** transformers' own rotary embedding of the folder's model: its inv_freq and attention_scaling. */
function transformersRope(name: string): { invFreq: Float32Array; attentionScaling: number } {
  const f = SafetensorsFile.open(join(DIR, name, 'rope_reference.safetensors'));
  try {
    return { invFreq: floatValues(f, 'inv_freq'), attentionScaling: floatValues(f, 'attention_scaling')[0]! };
  } finally {
    f.close();
  }
}

test('YaRN\'s frequencies and attention factor are transformers\' (to its float32 rounding)', () => {
  for (const name of FOLDERS) {
    const model = LlamaForCausalLM.fromPretrained(join(DIR, name));
    const s = model.config.ropeScaling;
    assert.equal(s?.type, 'yarn', name);
    const theirs = transformersRope(name);
    const ours = llamaInverseFrequencies(model.config);
    assert.equal(ours.length, theirs.invFreq.length, name);
    ours.forEach((f, i) => assert.ok(Math.abs(f - theirs.invFreq[i]!) <= 1e-6 * theirs.invFreq[i]!, `${name}: frequency ${i}: ${f} vs ${theirs.invFreq[i]}`));
    assert.ok(Math.abs(s.attentionFactor - theirs.attentionScaling) <= 1e-6, `${name}: attention factor ${s.attentionFactor} vs ${theirs.attentionScaling}`);
  }
  // The folders' numbers, worked by hand: 0.1 ln 4 + 1, and (0.1 ln 8 + 1) / (0.05 ln 8 + 1).
  const qwen = LlamaForCausalLM.fromPretrained(join(DIR, 'qwen3-yarn')).config.ropeScaling;
  const llama = LlamaForCausalLM.fromPretrained(join(DIR, 'llama-yarn')).config.ropeScaling;
  assert.ok(qwen?.type === 'yarn' && Math.abs(qwen.attentionFactor - (0.1 * Math.log(4) + 1)) < 1e-12);
  assert.ok(llama?.type === 'yarn' && Math.abs(llama.attentionFactor - (0.1 * Math.log(8) + 1) / (0.05 * Math.log(8) + 1)) < 1e-12);
});

testEachBackend('Qwen3 and Llama with YaRN give transformers\' logits, loss and greedy tokens (KV cache)', () => {
  for (const name of FOLDERS) checkAgainstTransformers(LlamaForCausalLM.fromPretrained(join(DIR, name)), reference(join(DIR, name)), name);
});

test('the ramp and the attention factor matter here: without either the logits differ', () => {
  for (const name of FOLDERS) {
    const row = reference(join(DIR, name)).ids.slice(0, SEQ);
    const logits = (edit: (m: LlamaForCausalLM) => void) => {
      const m = LlamaForCausalLM.fromPretrained(join(DIR, name));
      edit(m);
      return noGrad(() => m.forward(row, 1, SEQ).toFloat32Array());
    };
    const base = logits(() => {});
    const plainFrequencies = logits((m) => m.invFreq.set(llamaInverseFrequencies({ ...m.config, ropeScaling: null })));
    const unscaled = logits((m) => Object.assign(m.config.ropeScaling!, { attentionFactor: 1 }));
    for (const [label, other] of [['unscaled frequencies', plainFrequencies], ['no attention factor', unscaled]] as const) {
      assert.ok(other.some((x, i) => Math.abs(x - base[i]!) > 1e-3), `${name}, ${label}: other logits`);
    }
  }
});

test('a YaRN model is refused by GGUF export, by name (llama.cpp reads its own YaRN keys, which giftjs does not write)', () => {
  const model = LlamaForCausalLM.fromPretrained(join(DIR, 'qwen3-yarn'));
  assert.throws(() => model.gguf('f32'), /GGUF export: rope_scaling 'yarn' is not written for llama\.cpp's "qwen3"/);
});

test('Phi-3\'s "yarn" is refused by name: transformers reads it as an old name of LongRoPE, not as YaRN', () => {
  const phi35 = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/phi_longrope/phi35/config.json', import.meta.url)), 'utf8')) as Record<string, unknown>;
  const yarn = { rope_type: 'yarn', rope_theta: 10000, factor: 4, original_max_position_embeddings: 8 };
  assert.throws(() => parseLlamaConfig({ ...phi35, rope_parameters: yarn }, 'phi/config.json'),
    /phi\/config\.json: rope_parameters type "yarn" is not supported for this architecture \(giftjs implements it for LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM and Qwen3ForCausalLM\)/);
  assert.equal(parseLlamaConfig({ ...phi35, architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', rope_parameters: yarn }).ropeScaling?.type, 'yarn', 'the same numbers on Qwen3');
});

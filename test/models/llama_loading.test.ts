// Loading errors and the family's config variants.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CheckpointReader } from '../../src/io/hf_folder.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
import { llamaInverseFrequencies, parseLlamaConfig } from '../../src/models/llama/config.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { noGrad } from '../../src/tensor/autograd.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { assertClose } from '../helpers.js';

const SRC = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));

function folderWith(config: Record<string, unknown>, edit: (t: Map<string, Tensor>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-load-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const r = new CheckpointReader(SRC);
  const tensors = new Map(r.names().map((n) => [n, r.read(n)]));
  r.close();
  edit(tensors);
  saveSafetensors(join(dir, 'model.safetensors'), Object.fromEntries(tensors));
  return dir;
}

const base = () => JSON.parse(readFileSync(join(SRC, 'config.json'), 'utf8')) as Record<string, unknown>;

test('Mistral configs load as the same network', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-mistral-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...base(), architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 4096 }));
  copyFileSync(join(SRC, 'model.safetensors'), join(dir, 'model.safetensors'));
  const a = noGrad(() => LlamaForCausalLM.fromPretrained(SRC).forward([1, 2, 3], 1, 3).toFloat32Array());
  const b = noGrad(() => LlamaForCausalLM.fromPretrained(dir).forward([1, 2, 3], 1, 3).toFloat32Array());
  assertClose(b, a, 'mistral = llama', 0, 0);
});

test('a missing, misshapen or unexpected tensor is an error naming it', () => {
  const missing = folderWith(base(), (t) => t.delete('model.layers.1.mlp.up_proj.weight'));
  assert.throws(() => LlamaForCausalLM.fromPretrained(missing), /the checkpoint has no tensor 'model\.layers\.1\.mlp\.up_proj\.weight', which LlamaForCausalLM needs/);
  const wrong = folderWith({ ...base(), intermediate_size: 50 }, () => {});
  assert.throws(() => LlamaForCausalLM.fromPretrained(wrong), /tensor 'model\.layers\.0\.mlp\.gate_proj\.weight' has shape \[48, 32\], the config implies \[50, 32\]/);
  const extra = folderWith(base(), (t) => t.set('model.layers.0.self_attn.q_proj.bias', t.get('model.norm.weight')!));
  assert.throws(() => LlamaForCausalLM.fromPretrained(extra), /tensors LlamaForCausalLM does not use: model\.layers\.0\.self_attn\.q_proj\.bias/);
});

test('config validation names the field', () => {
  assert.throws(() => parseLlamaConfig({ ...base(), num_key_value_heads: 3 }, 'x/config.json'), /x\/config\.json: num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/);
  assert.throws(() => parseLlamaConfig({ ...base(), hidden_size: -1 }), /'hidden_size' must be a positive integer/);
  assert.throws(() => parseLlamaConfig({ ...base(), hidden_act: 'gelu' }), /hidden_act 'gelu' is not supported/);
  assert.throws(() => parseLlamaConfig({ ...base(), rope_scaling: { rope_type: 'dynamic', factor: 2 } }), /rope_scaling type "dynamic" is not supported/);
});

test('transformers 5 layout: rope_parameters and dtype are read, and agree with the transformers 4 layout', () => {
  const v4 = base();
  const llama3 = { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 256 };
  const { rope_theta: _theta, rope_scaling: _scaling, torch_dtype: _dtype, ...rest } = { ...v4, rope_theta: 500000, rope_scaling: { rope_type: 'llama3', ...llama3 } } as Record<string, unknown>;
  const v5 = { ...rest, head_dim: 16, rope_parameters: { rope_theta: 500000, rope_type: 'llama3', ...llama3 }, dtype: 'bfloat16' };
  const a = parseLlamaConfig(v5, 'v5/config.json');
  const b = parseLlamaConfig({ ...v4, head_dim: 16, rope_theta: 500000, rope_scaling: { rope_type: 'llama3', ...llama3 } });
  assert.equal(a.ropeTheta, 500000, 'before the fix a v5 config ran with theta 10000');
  assert.deepEqual(a.ropeScaling, b.ropeScaling);
  assert.deepEqual(Array.from(llamaInverseFrequencies(a)), Array.from(llamaInverseFrequencies(b)));
  assert.equal(a.torchDtype, 'bfloat16');
  const plain = parseLlamaConfig({ ...rest, rope_parameters: { rope_theta: 123456, rope_type: 'default' } });
  assert.equal(plain.ropeTheta, 123456);
  assert.equal(plain.ropeScaling, null);
});

test('rope settings giftjs does not implement are refused by name', () => {
  const { rope_theta: _t, ...rest } = base();
  const refuse = (extra: Record<string, unknown>, pattern: RegExp) => assert.throws(() => parseLlamaConfig({ ...rest, ...extra }, 'm/config.json'), pattern);
  refuse({ rope_parameters: { rope_theta: 1e4, rope_type: 'dynamic', factor: 2 } }, /m\/config\.json: rope_parameters type "dynamic" is not supported \(supported: default, linear, llama3, longrope, yarn\)/);
  refuse({ rope_parameters: { rope_theta: 1e4, rope_type: 'yarn', factor: 4, extrapolation: 1 } }, /rope_parameters\.extrapolation \(1\) is not supported with rope type 'yarn'/);
  refuse({ rope_parameters: { rope_theta: 1e4, rope_type: 'yarn', factor: 4, truncate: 'no' } }, /rope_parameters\.truncate must be true or false, got "no"/);
  refuse({ rope_parameters: { rope_theta: 1e4, rope_type: 'yarn', factor: 4, original_max_position_embeddings: 64 }, original_max_position_embeddings: 32 }, /original_max_position_embeddings 32 and rope_parameters\.original_max_position_embeddings 64 disagree/);
  refuse({ rope_parameters: { rope_theta: 1e4, rope_type: 'llama3', factor: 8 } }, /rope_parameters\.low_freq_factor is required for rope type 'llama3'/);
  refuse({ rope_parameters: { rope_theta: 1e4, rope_type: 'default', attention_factor: 2 } }, /rope_parameters\.attention_factor \(2\) is not supported/);
  refuse({ rope_parameters: { rope_theta: 1e4, rope_type: 'default', partial_rotary_factor: 0.5 } }, /partial_rotary_factor/);
  refuse({ rope_parameters: { full_attention: { rope_theta: 1e4, rope_type: 'default' }, sliding_attention: { rope_theta: 1e4, rope_type: 'default' } } }, /per layer type/);
  refuse({ rope_theta: 1e4, rope_parameters: { rope_theta: 5e5, rope_type: 'default' } }, /rope_theta 10000 and rope_parameters\.rope_theta 500000 disagree/);
  refuse({ rope_parameters: { rope_theta: -1, rope_type: 'default' } }, /rope_parameters\.rope_theta must be a positive number/);
  refuse({ partial_rotary_factor: 0.5 }, /partial_rotary_factor 0\.5 is not supported/);
  refuse({ attention_dropout: 0.1 }, /attention_dropout 0\.1 is not supported/);
  // LongRoPE and a partial rotary factor are Phi-3's (test/models/phi_longrope.test.ts); Phi-3's training dropouts.
  refuse({ rope_scaling: { rope_type: 'longrope', short_factor: [1], long_factor: [1] }, original_max_position_embeddings: 8 }, /rope_scaling type "longrope" is not supported for this architecture/);
  const phi3 = { architectures: ['Phi3ForCausalLM'] };
  refuse({ ...phi3, resid_pdrop: 0.1 }, /resid_pdrop 0\.1 is not supported \(only 0\)/);
  refuse({ ...phi3, embd_pdrop: 0.1 }, /embd_pdrop 0\.1 is not supported/);
});

test('sequences past the context are refused, not run wrong', () => {
  const model = LlamaForCausalLM.random(parseLlamaConfig({ ...base(), max_position_embeddings: 8 }));
  assert.throws(() => noGrad(() => model.forward(new Array(9).fill(1), 1, 9)), /9 positions exceed this model's context \(max_position_embeddings 8\)/);
});

test('llama3 rope scaling keeps short wavelengths, slows long ones, blends between (transformers formula)', () => {
  const c = parseLlamaConfig({ ...base(), head_dim: 16, rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 256 } });
  const scaled = llamaInverseFrequencies(c);
  const plain = llamaInverseFrequencies({ ...c, ropeScaling: null });
  // wavelengths 2pi/f: < 64 kept, > 256 divided by 8, in between smoothly interpolated
  plain.forEach((f, i) => {
    const w = (2 * Math.PI) / f;
    if (w < 64) assert.equal(scaled[i], f);
    else if (w > 256) assert.ok(Math.abs(scaled[i]! - f / 8) < 1e-15);
    else {
      const s = (256 / w - 1) / 3;
      assert.ok(Math.abs(scaled[i]! - ((1 - s) * f / 8 + s * f)) < 1e-15);
    }
  });
  assert.ok(plain.some((f) => (2 * Math.PI) / f > 64 && (2 * Math.PI) / f < 256), 'the fixture exercises the blended band');
});

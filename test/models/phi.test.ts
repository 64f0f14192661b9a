// Phi-2 (PhiForCausalLM) against transformers 5.17 itself: a folder written by save_pretrained with
// PyTorch's outputs beside it (tools/make_phi_fixtures.py) -- LayerNorm with biases, attention and MLP side
// by side on one normalized input, biases on every projection and on the LM head, a gelu_new MLP, RoPE over
// half of each head, GQA -- with left padding, the loss, greedy generation through the KV cache, and a
// PEFT 0.21 LoRA adapter on every linear layer; its dropouts act in training only.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PhiForCausalLM } from '../../src/models/phi/model.js';
import { parsePhiConfig } from '../../src/models/phi/config.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { loadAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { testEachBackend } from '../helpers.js';
import { checkAgainstTransformers, reference, SEQ } from './transformers_reference.js';

const DIR = fileURLToPath(new URL('../../../test/fixtures/phi', import.meta.url));

testEachBackend('Phi-2 gives transformers\' logits, loss and greedy tokens', () => {
  const model = loadCausalLM(join(DIR, 'phi2'));
  assert.ok(model instanceof PhiForCausalLM, 'phi2 loads through the registry as Phi');
  assert.deepEqual([model.config.rotaryDim, model.config.headDim, model.config.residualDropout], [4, 8, 0.1]);
  assert.ok(model.lm_head?.bias, 'the LM head has its bias');
  checkAgainstTransformers(model, reference(join(DIR, 'phi2')), 'phi2');
});

testEachBackend('a PEFT 0.21 LoRA adapter on every linear layer of Phi-2 gives PEFT\'s outputs, merged and unmerged', () => {
  const model = PhiForCausalLM.fromPretrained(join(DIR, 'phi2'));
  const adapter = loadAdapter(join(DIR, 'phi2-lora'), model);
  const ref = reference(join(DIR, 'phi2-lora'));
  checkAgainstTransformers(model, ref, 'phi2 LoRA', 3e-5);
  adapter.merge();
  checkAgainstTransformers(model, ref, 'phi2 LoRA merged', 3e-5);
});

test('Phi-2\'s residual dropout acts in training and not in evaluation', () => {
  const model = PhiForCausalLM.fromPretrained(join(DIR, 'phi2'));
  const ids = reference(join(DIR, 'phi2')).ids.slice(0, SEQ);
  const run = () => noGrad(() => model.forward(ids, 1, SEQ).toFloat32Array());
  const evaluated = run();
  assert.deepEqual(run(), evaluated, 'evaluation is deterministic');
  model.train();
  const trained = run();
  model.eval();
  assert.notDeepEqual(trained, evaluated, 'training drops residual branches (resid_pdrop 0.1)');
});

test('Phi configs are read as transformers reads them, and what is not implemented is refused by name', () => {
  const base = { architectures: ['PhiForCausalLM'], vocab_size: 16, hidden_size: 16, intermediate_size: 8, num_hidden_layers: 2, num_attention_heads: 2 };
  const parse = (extra: Record<string, unknown>) => parsePhiConfig({ ...base, ...extra });
  // transformers rotates half of each head when the file names no partial_rotary_factor; Phi-2's says 0.4.
  assert.equal(parse({}).rotaryDim, 4);
  assert.equal(parse({ partial_rotary_factor: 0.25 }).rotaryDim, 2);
  assert.equal(parse({ rope_parameters: { rope_type: 'default', rope_theta: 10000, partial_rotary_factor: 0.5 } }).rotaryDim, 4);
  assert.equal(parsePhiConfig({ ...base, architectures: undefined, model_type: 'phi' }).architecture, 'PhiForCausalLM');
  assert.throws(() => parse({ qk_layernorm: true }), /qk_layernorm true is not supported/);
  assert.throws(() => parse({ hidden_act: 'relu' }), /hidden_act "relu" is not supported \(supported: gelu_new, gelu_pytorch_tanh\)/);
  assert.throws(() => parse({ attention_dropout: 0.1 }), /attention_dropout 0\.1 is not supported \(only 0\)/);
  assert.throws(() => parse({ tie_word_embeddings: true }), /tie_word_embeddings true is not supported/);
  assert.throws(() => parse({ resid_pdrop: 1.5 }), /'resid_pdrop' must be a dropout probability in \[0, 1\), got 1\.5/);
  assert.throws(() => parse({ partial_rotary_factor: 0.1 }), /rotates 0 of each head's 8 dimensions/);
});

test('gift export --format gguf refuses Phi-2 by name before loading anything, writing nothing', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'giftjs-phi-gguf-')), 'phi2.gguf');
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('../../../bin/gift.js', import.meta.url)), 'export', '--format', 'gguf', '--model', join(DIR, 'phi2'), '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /GGUF export of PhiForCausalLM is not supported yet \(the llama, gemma families are exported\)/);
  assert.equal(existsSync(out), false);
});

// GIFT in the layout of the authors' PEFT fork (WeGeFT): the fork's own formula for a layer's change,
// dW = s (W phi_w^T) psi_w computed in float64 from the exported tensors, equals what giftjs's merge adds;
// the tying names every layer of a pair and stores the pair once; converting back gives the same model.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { causalLMShapes } from '../../src/models/registry.js';
import { attachAdapter, loadAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Random } from '../../src/tensor/random.js';
import { assertClose } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODEL = join(ROOT, 'test/fixtures/llama/llama-gqa');
const IDS = [5, 9, 17, 3, 80, 41];
const gift = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), ...args], { encoding: 'utf8' });

test('gift export --format wegeft writes the fork\'s layout and formula; gift convert wegeft reads it back', () => {
  const work = mkdtempSync(join(tmpdir(), 'giftjs-wegeft-'));
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  const adapter = attachAdapter(model, { method: 'gift', rank: 3, alpha: 6, target_modules: ['q_proj', 'down_proj'] }, 1);
  const r = new Random(3);
  for (const [, t] of adapter.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = 0.2 * r.normal();
  saveAdapter(join(work, 'gift'), adapter, { path: MODEL, architecture: 'LlamaForCausalLM' });
  const expected = noGrad(() => model.forward(IDS, 1, 6).toFloat32Array());
  const e = gift('export', '--format', 'wegeft', '--model', MODEL, '--adapter', join(work, 'gift'), '--out', join(work, 'wegeft'));
  assert.equal(e.status, 0, e.stderr);

  const config = JSON.parse(readFileSync(join(work, 'wegeft', 'adapter_config.json'), 'utf8'));
  assert.equal(config.r, 3);
  assert.equal(config.wegeft_alpha, 6);
  assert.deepEqual(config.transform_dim, { q_proj: 'input', down_proj: 'input' });
  assert.deepEqual(config.tied_modules, [
    ['^model\\.layers\\.0\\.self_attn\\.q_proj$', '^model\\.layers\\.1\\.self_attn\\.q_proj$'],
    ['^model\\.layers\\.0\\.mlp\\.down_proj$', '^model\\.layers\\.1\\.mlp\\.down_proj$'],
  ]);
  const f = SafetensorsFile.open(join(work, 'wegeft', 'adapter_model.safetensors'));
  assert.deepEqual([...f.tensors.keys()].sort(), [
    'base_model.model.model.layers.0.mlp.down_proj.wegeft_phi.weight', 'base_model.model.model.layers.0.mlp.down_proj.wegeft_psi.weight',
    'base_model.model.model.layers.0.self_attn.q_proj.wegeft_phi.weight', 'base_model.model.model.layers.0.self_attn.q_proj.wegeft_psi.weight',
  ]);
  // The fork's get_delta_weight, in float64, for every layer of the q_proj pair (stored on layer 0).
  const phi = f.readTensor('base_model.model.model.layers.0.self_attn.q_proj.wegeft_phi.weight');
  const psi = f.readTensor('base_model.model.model.layers.0.self_attn.q_proj.wegeft_psi.weight');
  f.close();
  assert.deepEqual(phi.shape, [3, 32]);
  assert.deepEqual(psi.shape, [3, 32]);
  const s = 6 / 3;
  const base = LlamaForCausalLM.fromPretrained(MODEL);
  adapter.merge();
  for (const layer of [0, 1]) {
    const W = base.model.layers[layer]!.self_attn.q_proj!.weight;
    const merged = model.model.layers[layer]!.self_attn.q_proj!.weight;
    const [out, inF] = W.shape as [number, number];
    const delta = new Float64Array(out * inF);
    for (let o = 0; o < out; o++) {
      const wPhi = Array.from({ length: 3 }, (_, k) => { let acc = 0; for (let i = 0; i < inF; i++) acc += W.data[o * inF + i]! * phi.data[k * inF + i]!; return acc; });
      for (let i = 0; i < inF; i++) { let acc = 0; for (let k = 0; k < 3; k++) acc += wPhi[k]! * psi.data[k * inF + i]!; delta[o * inF + i] = s * acc; }
    }
    assertClose(Array.from(merged.data, (v, i) => v - W.data[i]!), delta, `layer ${layer} q_proj: giftjs merge vs the fork's delta`, 1e-5, 1e-4);
  }
  adapter.unmerge();

  const c = gift('convert', 'wegeft', join(work, 'wegeft'), '--model', MODEL, '--out', join(work, 'back'));
  assert.equal(c.status, 0, c.stderr);
  const again = LlamaForCausalLM.fromPretrained(MODEL);
  loadAdapter(join(work, 'back'), again);
  noGrad(() => assertClose(again.forward(IDS, 1, 6).data, expected, 'WeGeFT round trip', 0, 0));

  // What GIFT cannot express is refused by name: an output transform, a pair shared across targets.
  for (const [edit, message] of [
    [{ transform_dim: { q_proj: 'output', down_proj: 'input' } }, /transform_dim .* \(GIFT transforms the input\) cannot be read/],
    [{ tied_modules: [[...config.tied_modules[0], ...config.tied_modules[1]]] }, /share one pair across targets/],
  ] as [Record<string, unknown>, RegExp][]) {
    const dir = join(work, `edited-${Object.keys(edit)[0]}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, ...edit }));
    copyFileSync(join(work, 'wegeft', 'adapter_model.safetensors'), join(dir, 'adapter_model.safetensors'));
    const bad = gift('convert', 'wegeft', dir, '--model', MODEL, '--out', join(work, `out-${Object.keys(edit)[0]}`));
    assert.equal(bad.status, 1, bad.stderr);
    assert.match(bad.stderr, message);
  }
});

test('the WeGeFT conversions read the model\'s layer names and shapes, not its weights: a Llama-3-8B-shaped folder without weights converts', () => {
  // Loading the base in float32 to name its layers had cost an 8B model 32 GB, unestimated; this folder
  // has the config alone, so any read of a weight fails here.
  const work = mkdtempSync(join(tmpdir(), 'giftjs-wegeft-8b-'));
  const base = join(work, 'llama-3-8b-config');
  mkdirSync(base);
  writeFileSync(join(base, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32,
    num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 128256, max_position_embeddings: 8192, rms_norm_eps: 1e-5,
    rope_theta: 500000, tie_word_embeddings: false, torch_dtype: 'bfloat16', bos_token_id: 128000, eos_token_id: 128001,
  }));
  const model = causalLMShapes(base);
  const adapter = attachAdapter(model, { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'] }, 1);
  const r = new Random(5);
  for (const [, t] of adapter.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = r.normal();
  saveAdapter(join(work, 'gift'), adapter, { path: base, architecture: 'LlamaForCausalLM' });
  const e = gift('export', '--format', 'wegeft', '--model', base, '--adapter', join(work, 'gift'), '--out', join(work, 'wegeft'));
  assert.equal(e.status, 0, e.stderr);
  const config = JSON.parse(readFileSync(join(work, 'wegeft', 'adapter_config.json'), 'utf8'));
  assert.equal(config.tied_modules.length, 2);
  assert.equal(config.tied_modules[0].length, 32, 'every q_proj of the 32 layers in one group');
  const c = gift('convert', 'wegeft', join(work, 'wegeft'), '--model', base, '--out', join(work, 'back'));
  assert.equal(c.status, 0, c.stderr);
  const before = SafetensorsFile.open(join(work, 'gift', 'adapter_model.safetensors'));
  const after = SafetensorsFile.open(join(work, 'back', 'adapter_model.safetensors'));
  assert.deepEqual([...after.tensors.keys()].sort(), [...before.tensors.keys()].sort());
  for (const name of before.tensors.keys()) assert.deepEqual(Array.from(after.readTensor(name).data), Array.from(before.readTensor(name).data), `${name} round trip`);
  before.close();
  after.close();
});

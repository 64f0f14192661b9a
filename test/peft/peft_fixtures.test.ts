// Checkpoints and adapters exactly as transformers 5.17 and PEFT 0.21 save them (written by
// tools/make_hf_v5_fixtures.py with save_pretrained, PyTorch's logits beside each): the v5 config
// layout (rope_parameters, dtype), and LoRA options that change the math (rsLoRA, rank and alpha
// patterns, a regex target_modules, exclude_modules, DoRA) give PyTorch's numbers; the options giftjs
// does not implement are refused by name.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { loadAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { floatValues } from '../models/transformers_reference.js';
import { assertClose } from '../helpers.js';

const DIR = fileURLToPath(new URL('../../../test/fixtures/hf-v5', import.meta.url));
const MODEL = join(DIR, 'llama3-v5');

function reference(folder: string): { ids: number[]; logits: Float32Array } {
  const f = SafetensorsFile.open(join(folder, 'reference.safetensors'));
  try {
    const ids = f.readIntegers('input_ids').values;
    const logits = floatValues(f, 'logits');
    return { ids, logits };
  } finally {
    f.close();
  }
}

const logitsOf = (model: LlamaForCausalLM, ids: number[]) => noGrad(() => model.forward(ids, 2, ids.length / 2).toFloat32Array());

test('a Llama-3 folder saved by transformers 5 (rope_parameters, llama3 scaling, theta 500000) gives PyTorch logits', () => {
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  assert.equal(model.config.ropeTheta, 500000);
  assert.equal(model.config.ropeScaling?.type, 'llama3');
  assert.equal(model.config.torchDtype, 'float32');
  const ref = reference(MODEL);
  assertClose(logitsOf(model, ref.ids), ref.logits, 'logits', 1e-4, 1e-4);
});

for (const name of ['lora-rslora', 'lora-patterns', 'lora-dora']) {
  test(`PEFT adapter ${name} loads with PyTorch's logits, and merges to the same`, () => {
    const model = LlamaForCausalLM.fromPretrained(MODEL);
    const adapter = loadAdapter(join(DIR, name), model);
    const ref = reference(join(DIR, name));
    assertClose(logitsOf(model, ref.ids), ref.logits, `${name} logits`, 1e-4, 1e-4);
    adapter.merge();
    assertClose(logitsOf(model, ref.ids), ref.logits, `${name} merged logits`, 2e-4, 2e-4);
  });
}

test('lora-patterns: per-module ranks, alpha and exclusions as PEFT resolved them', () => {
  const adapter = loadAdapter(join(DIR, 'lora-patterns'), LlamaForCausalLM.fromPretrained(MODEL));
  const shapes = Object.fromEntries(adapter.namedTrainable().map(([n, t]) => [n.replace(/^base_model\.model\.model\./, ''), t.shape.join('x')]));
  assert.deepEqual(shapes, {
    'layers.0.self_attn.q_proj.lora_A.weight': '4x32', 'layers.0.self_attn.q_proj.lora_B.weight': '64x4',
    'layers.0.self_attn.v_proj.lora_A.weight': '2x32', 'layers.0.self_attn.v_proj.lora_B.weight': '32x2',
    'layers.1.self_attn.q_proj.lora_A.weight': '4x32', 'layers.1.self_attn.q_proj.lora_B.weight': '64x4',
    'layers.1.self_attn.v_proj.lora_A.weight': '2x32', 'layers.1.self_attn.v_proj.lora_B.weight': '32x2',
    'layers.1.mlp.up_proj.lora_A.weight': '6x32', 'layers.1.mlp.up_proj.lora_B.weight': '48x6',
  });
});

test('PEFT options giftjs does not implement are refused by name (LoRA biases, PiSSA, unknown options)', () => {
  const model = () => LlamaForCausalLM.fromPretrained(MODEL);
  const edited = (edit: Record<string, unknown>) => {
    const dir = join(mkdtempSync(join(tmpdir(), 'giftjs-peft-')), 'adapter');
    cpSync(join(DIR, 'lora-rslora'), dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, ...edit }));
    return dir;
  };
  assert.throws(() => loadAdapter(edited({ bias: 'all' }), model()), /LoRA option 'bias' = "all" is not supported/);
  assert.throws(() => loadAdapter(edited({ init_lora_weights: 'pissa' }), model()), /'init_lora_weights' = "pissa"/);
  assert.throws(() => loadAdapter(edited({ layer_replication: [[0, 2]] }), model()), /'layer_replication'/);
  assert.throws(() => loadAdapter(edited({ shiny_new_option: { x: 1 } }), model()), /'shiny_new_option' = \{"x":1\} is not supported by giftjs \(an option it does not know\)/);
  assert.throws(() => loadAdapter(edited({ target_modules: '(?P<name>q_proj)' }), model()), /is not a regular expression giftjs can read/);
  assert.throws(() => loadAdapter(edited({ peft_type: 'ADALORA' }), model()), /LoRA option 'peft_type'|peft_type "ADALORA" is not supported/);
  // Without use_rslora the same tensors give other logits: the option is read, not ignored.
  const plain = loadAdapter(edited({ use_rslora: false }), model());
  assert.equal(plain.method, 'lora');
});

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile, saveSafetensors } from '../../src/io/safetensors.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { adapterFiles, attachAdapter, loadAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Random } from '../../src/tensor/random.js';
import { GIFTJS_VERSION } from '../../src/version.js';
import { assertClose } from '../helpers.js';

const MODEL = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));
const IDS = [5, 9, 17, 3, 80, 41];

function perturb(adapter: ReturnType<typeof attachAdapter>): void {
  const r = new Random(11);
  for (const [, t] of adapter.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = 0.2 * r.normal();
}

for (const config of [
  { method: 'gift', rank: 4, alpha: 8, target_modules: ['q_proj', 'v_proj'], layers: null, share: 'target' },
  { method: 'lora', rank: 2, alpha: 4, dropout: 0, target_modules: ['v_proj'], layers: [1] },
  { method: 'full' },
]) {
  test(`${config.method}: an adapter saved and loaded gives the same model`, () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'giftjs-adapter-')), 'adapter');
    const model = LlamaForCausalLM.fromPretrained(MODEL);
    const adapter = attachAdapter(model, config);
    perturb(adapter);
    const expected = noGrad(() => model.forward(IDS, 1, 6).toFloat32Array());
    saveAdapter(dir, adapter, { path: MODEL, architecture: 'LlamaForCausalLM' });
    const peft = config.method === 'lora';
    assert.deepEqual(readdirSync(dir).sort(), ['.giftjs', 'adapter_config.json', 'adapter_model.safetensors', ...(peft ? ['giftjs_config.json'] : [])]);
    const saved = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    const ours = peft ? JSON.parse(readFileSync(join(dir, 'giftjs_config.json'), 'utf8')) : saved;
    assert.equal(ours.method, config.method);
    assert.equal(saved.base_model_name_or_path, MODEL);
    assert.equal(ours.giftjs_version, GIFTJS_VERSION);
    const fresh = LlamaForCausalLM.fromPretrained(MODEL);
    const loaded = loadAdapter(dir, fresh);
    assert.equal(loaded.trainableCount(), adapter.trainableCount());
    noGrad(() => assertClose(fresh.forward(IDS, 1, 6).data, expected, 'reloaded adapter', 0, 0));
    if (config.method === 'gift') {
      const f = SafetensorsFile.open(join(dir, 'adapter_model.safetensors'));
      assert.deepEqual([...f.tensors.keys()], ['gift.q_proj.phi', 'gift.q_proj.psi', 'gift.v_proj.phi', 'gift.v_proj.psi']);
      assert.deepEqual(f.info('gift.q_proj.phi').shape, [4, 32]);
      assert.deepEqual(f.info('gift.q_proj.psi').shape, [32, 4]);
      assert.equal(f.info('gift.q_proj.psi').dtype, 'F32');
      f.close();
    }
    if (config.method === 'lora') {
      // PEFT's names and config fields, so Hugging Face PEFT can read the folder.
      assert.equal(saved.peft_type, 'LORA');
      assert.equal(saved.r, 2);
      assert.equal(saved.lora_alpha, 4);
      const f = SafetensorsFile.open(join(dir, 'adapter_model.safetensors'));
      assert.deepEqual([...f.tensors.keys()], ['base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight', 'base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight']);
      f.close();
    }
  });
}

/** The fields PEFT 0.21's LoraConfig has: the keys of an adapter_config.json PEFT 0.21 itself saved. */
const PEFT_LORA_FIELDS = new Set(Object.keys(JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/hf-v5/lora-rslora/adapter_config.json', import.meta.url)), 'utf8'))));

test("giftjs LoRA adapters hold only PEFT 0.21's LoraConfig fields, heads under PEFT's names; older giftjs adapters still load", () => {
  assert.ok(PEFT_LORA_FIELDS.has('r') && PEFT_LORA_FIELDS.has('peft_type') && PEFT_LORA_FIELDS.size > 30);
  const dir = join(mkdtempSync(join(tmpdir(), 'giftjs-adapter-')), 'adapter');
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  // A head trained beside LoRA (modules_to_save), as a classifier run saves it.
  const adapter = attachAdapter(model, { method: 'lora', rank: 2, alpha: 4, dropout: 0.1, target_modules: ['q_proj', 'v_proj'], layers: [1], modules_to_save: ['lm_head'] });
  perturb(adapter);
  const expected = noGrad(() => model.forward(IDS, 1, 6).toFloat32Array());
  saveAdapter(dir, adapter, { path: MODEL, architecture: 'LlamaForCausalLM' }, { task: { type: 'seqcls', id2label: ['a', 'b'] } });
  const saved = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  const foreign = Object.keys(saved).filter((k) => !PEFT_LORA_FIELDS.has(k));
  assert.deepEqual(foreign, [], `fields PEFT's LoraConfig does not have: ${foreign}`);
  assert.equal(saved.task_type, 'SEQ_CLS');
  assert.deepEqual(saved.modules_to_save, ['lm_head']);
  assert.deepEqual(saved.layers_to_transform, [1]);
  assert.equal(saved.lora_dropout, 0.1);
  const f = SafetensorsFile.open(join(dir, 'adapter_model.safetensors'));
  const names = [...f.tensors.keys()];
  f.close();
  assert.ok(names.every((n) => n.startsWith('base_model.model.')), `PEFT's prefix on every tensor: ${names}`);
  assert.ok(names.includes('base_model.model.lm_head.weight'));
  const fresh = LlamaForCausalLM.fromPretrained(MODEL);
  loadAdapter(dir, fresh);
  noGrad(() => assertClose(fresh.forward(IDS, 1, 6).data, expected, 'reloaded', 0, 0));

  // An adapter in giftjs 0.1's layout (giftjs fields in adapter_config.json, the head unprefixed).
  const old = join(mkdtempSync(join(tmpdir(), 'giftjs-adapter-')), 'adapter');
  mkdirSync(old);
  writeFileSync(join(old, 'adapter_config.json'), JSON.stringify({ ...saved, method: 'lora', rank: 2, alpha: 4, dropout: 0.1, base_architecture: 'LlamaForCausalLM', giftjs_version: '0.1.0' }));
  const tensors = Object.fromEntries(adapter.namedTrainable().map(([n, t]) => [n === 'base_model.model.lm_head.weight' ? 'lm_head.weight' : n, t]));
  saveSafetensors(join(old, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  const again = LlamaForCausalLM.fromPretrained(MODEL);
  loadAdapter(old, again);
  noGrad(() => assertClose(again.forward(IDS, 1, 6).data, expected, 'giftjs 0.1 layout', 0, 0));
});

test('saving over an adapter replaces it whole; a mismatched adapter is refused', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'giftjs-adapter-')), 'adapter');
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  const a = attachAdapter(model, { method: 'gift', rank: 4, target_modules: ['q_proj'] });
  saveAdapter(dir, a, { path: MODEL, architecture: 'LlamaForCausalLM' });
  const b = attachAdapter(LlamaForCausalLM.fromPretrained(MODEL), { method: 'gift', rank: 2, target_modules: ['q_proj'] });
  saveAdapter(dir, b, { path: MODEL, architecture: 'LlamaForCausalLM' });
  assert.equal(JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')).rank, 2);
  assert.deepEqual(readdirSync(join(dir, '..')), ['adapter'], 'no temporary folders left');
  assert.throws(() => loadAdapter(join(dir, 'missing'), model), /adapter_config.json does not exist/);
  assert.ok(existsSync(dir));
});

test('a second adapter on a model that carries one is refused (it had silently taken the first one\'s layers); after a merge it attaches, and the first cannot unmerge under it', () => {
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  const first = attachAdapter(model, { method: 'gift', rank: 4, target_modules: ['q_proj'] });
  perturb(first);
  assert.throws(() => attachAdapter(model, { method: 'lora', rank: 2, target_modules: ['v_proj'] }), /adapter config: the model already carries an adapter \(on model.layers.0.self_attn.q_proj, model.layers.1.self_attn.q_proj\); giftjs attaches one at a time -- merge that one first, or load the model again/);
  const before = noGrad(() => model.forward(IDS, 1, IDS.length).read());
  first.merge();
  const second = attachAdapter(model, { method: 'lora', rank: 2, target_modules: ['q_proj'] });
  assertClose(noGrad(() => model.forward(IDS, 1, IDS.length).read()), before, 'the merged model with a fresh LoRA (B = 0) gives the adapted outputs', 1e-5, 1e-5);
  assert.throws(() => first.unmerge(), /unmerge: 2 of this adapter's layers carry another adapter attached since the merge; load the model again to unmerge/);
  assert.ok(second.namedTrainable().length > 0);
});

test('a GIFT config with a setting GIFT does not have is refused by name (a dropout had been ignored)', () => {
  assert.throws(() => attachAdapter(LlamaForCausalLM.fromPretrained(MODEL), { method: 'gift', rank: 2, target_modules: ['q_proj'], dropout: 0.1 }),
    /adapter config: GIFT option 'dropout' = 0.1 is not one GIFT has \(its settings: rank, alpha, target_modules, layers, share, modules_to_save\); remove it/);
  // What an adapter folder records beside the settings, and an unset option, are not settings.
  const a = attachAdapter(LlamaForCausalLM.fromPretrained(MODEL), { method: 'gift', rank: 2, target_modules: ['q_proj'], giftjs_version: '0.1.0', base_model_name_or_path: 'x', dropout: null });
  assert.equal(a.config.rank, 2);
});

test('a baseline (full, bitfit, head) refuses a rank or targets, which it has none of (target_modules had trained every tensor)', () => {
  for (const method of ['full', 'bitfit', 'head']) {
    assert.throws(() => attachAdapter(LlamaForCausalLM.fromPretrained(MODEL), { method, target_modules: ['q_proj'] }),
      new RegExp(`adapter config: 'target_modules' = \\["q_proj"\\] is not a setting of method '${method}', which trains the model's own tensors and has none \\(modules_to_save adds modules\\); remove it`));
    assert.throws(() => attachAdapter(LlamaForCausalLM.fromPretrained(MODEL), { method, rank: 8 }), /'rank' = 8 is not a setting/);
  }
  // What an adapter folder records, modules_to_save, and unset options are taken.
  const full = attachAdapter(LlamaForCausalLM.fromPretrained(MODEL), { method: 'full', giftjs_version: '0.1.0', base_model_name_or_path: 'x', base_architecture: 'LlamaForCausalLM', rank: null, layers: null });
  assert.deepEqual(full.config, { method: 'full' });
  const bitfit = attachAdapter(LlamaForCausalLM.fromPretrained(fileURLToPath(new URL('../../../test/fixtures/llama/qwen2-bias', import.meta.url))), { method: 'bitfit', modules_to_save: ['model.norm'] });
  assert.ok(bitfit.namedTrainable().some(([n]) => n === 'model.norm.weight'), bitfit.namedTrainable().map(([n]) => n).join());
});

test('GIFTJS_VERSION, which adapters record, is the version package.json declares', () => {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
  assert.equal(GIFTJS_VERSION, pkg.version);
});

test('adapterFiles gives the bytes saveAdapter writes (the browser page downloads them)', async () => {
  for (const config of [{ method: 'gift', rank: 2, target_modules: ['q_proj', 'v_proj'] }, { method: 'lora', rank: 2, target_modules: ['q_proj'] }]) {
    const dir = mkdtempSync(join(tmpdir(), 'giftjs-files-'));
    const adapter = attachAdapter(LlamaForCausalLM.fromPretrained(MODEL), config);
    perturb(adapter);
    saveAdapter(dir, adapter, { path: MODEL, architecture: 'LlamaForCausalLM' }, { note: 'x' });
    const files = await adapterFiles(adapter, { path: MODEL, architecture: 'LlamaForCausalLM' }, { note: 'x' });
    assert.deepEqual(Object.keys(files).sort(), readdirSync(dir).filter((n) => n !== '.giftjs').sort());
    for (const [name, bytes] of Object.entries(files)) assert.deepEqual(Buffer.from(bytes), readFileSync(join(dir, name)), name);
  }
});

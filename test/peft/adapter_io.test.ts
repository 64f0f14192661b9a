import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { attachAdapter, loadAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
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
    assert.deepEqual(readdirSync(dir).sort(), ['.giftjs', 'adapter_config.json', 'adapter_model.safetensors']);
    const saved = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal(saved.method, config.method);
    assert.equal(saved.base_model_name_or_path, MODEL);
    assert.equal(saved.giftjs_version, GIFTJS_VERSION);
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

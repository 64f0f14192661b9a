// ViT adapters across transformers 5's renaming: a folder transformers 5.17 wrote keeps the checkpoint
// names (vit.encoder.layer.0.attention.attention.query), while its modules in memory -- and so the
// adapters PEFT 0.21 saves -- are named vit.layers.0.attention.q_proj (tools/make_vit_peft_fixtures.py).
// giftjs loads PEFT's adapter with PEFT's logits, and writes a LoRA adapter on such a base under PEFT's
// names (the tensor names and target_modules PEFT itself wrote), which loads back to the same logits.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { imagesToPatches, ViTForImageClassification } from '../../src/models/vit/model.js';
import { loadAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { assertClose } from '../helpers.js';

const DIR = fileURLToPath(new URL('../../../test/fixtures/vit_peft', import.meta.url));

function reference(): { pixels: Float32Array; logits: Float32Array; base: Float32Array } {
  const f = SafetensorsFile.open(join(DIR, 'lora/reference.safetensors'));
  try {
    const read = (n: string) => Float32Array.from(f.readTensor(n).data);
    return { pixels: read('pixel_values'), logits: read('logits'), base: read('base_logits') };
  } finally {
    f.close();
  }
}

const logitsOf = (m: ViTForImageClassification, pixels: Float32Array) => noGrad(() => m.forward(imagesToPatches(pixels, 2, m.config)).toFloat32Array());

test('a PEFT 0.21 LoRA adapter saved on a transformers 5.17 ViT (q_proj, v_proj, o_proj, fc2) gives PEFT\'s logits, merged and unmerged', () => {
  const ref = reference();
  const model = ViTForImageClassification.fromPretrained(join(DIR, 'vit'));
  assertClose(logitsOf(model, ref.pixels), ref.base, 'the base', 1e-5, 1e-5);
  const adapter = loadAdapter(join(DIR, 'lora'), model);
  assertClose(logitsOf(model, ref.pixels), ref.logits, 'adapted', 1e-5, 1e-5);
  adapter.merge();
  assertClose(logitsOf(model, ref.pixels), ref.logits, 'merged', 1e-5, 1e-5);
});

test('a LoRA adapter giftjs writes on a transformers 5 ViT uses PEFT 0.21\'s names, and reads back', () => {
  const ref = reference();
  const model = ViTForImageClassification.fromPretrained(join(DIR, 'vit'));
  const adapter = loadAdapter(join(DIR, 'lora'), model);
  const out = join(mkdtempSync(join(tmpdir(), 'giftjs-vit-')), 'adapter');
  saveAdapter(out, adapter, { path: join(DIR, 'vit'), architecture: 'ViTForImageClassification', naming: model.adapterNaming() }, { task: { type: 'imgcls', id2label: ['a', 'b', 'c'] } });
  const names = (dir: string) => {
    const f = SafetensorsFile.open(join(dir, 'adapter_model.safetensors'));
    try {
      return [...f.tensors.keys()].sort();
    } finally {
      f.close();
    }
  };
  assert.deepEqual(names(out), names(join(DIR, 'lora')), 'the tensor names PEFT wrote');
  const targets = (dir: string) => (JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as { target_modules: string[] }).target_modules.sort();
  assert.deepEqual(targets(out), targets(join(DIR, 'lora')), 'PEFT\'s target_modules');
  const again = ViTForImageClassification.fromPretrained(join(DIR, 'vit'));
  loadAdapter(out, again);
  assertClose(logitsOf(again, ref.pixels), ref.logits, 'read back', 1e-5, 1e-5);
  // A base without transformers_version 5 keeps the checkpoint's names, as before.
  assert.equal(ViTForImageClassification.fromPretrained(fileURLToPath(new URL('../../../test/fixtures/encoders/vit', import.meta.url))).adapterNaming().writeSaved, false);
});

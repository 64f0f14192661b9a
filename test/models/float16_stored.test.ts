// A float16 checkpoint's matrices stay float16 when a command only reads them (train's frozen base,
// eval, generate), never rounded to bfloat16 (which would drop three mantissa bits): the GEMM and the
// embedding widen the halves exactly as they read them, so the loss and the adapter's gradients
// are those of the float32 path (the F16 tensors widened at load), on every backend and with bf16
// dot products. What an adapter trains is widened to float32; a merge onto a float16 weight rounds
// the sum once to float16 and the unmerge gives back the stored bits.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { readJsonFile } from '../../src/io/hf_folder.js';
import { SafetensorsFile, safetensorsChunks, type SafetensorsRaw } from '../../src/io/safetensors.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { float16ToFloat32, float32ToFloat16 } from '../../src/formats/dtype.js';
import { Random } from '../../src/tensor/random.js';
import { assertClose, testEachBackend } from '../helpers.js';
import { giftLossAndGrads } from './gift_step.js';

const SOURCE = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));

/** The f32 fixture written as transformers writes a float16 model: every tensor F16, rounded to nearest even. */
function writeF16Folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-f16-'));
  const file = SafetensorsFile.open(join(SOURCE, 'model.safetensors'));
  const entries: Record<string, SafetensorsRaw> = {};
  for (const name of file.tensors.keys()) {
    const { shape } = file.info(name);
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    file.readInto(name, values);
    entries[name] = { dtype: 'F16', shape, bytes: new Uint8Array(float32ToFloat16(values).buffer) };
  }
  file.close();
  writeFileAtomic(join(dir, 'model.safetensors'), safetensorsChunks(entries));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...readJsonFile(join(SOURCE, 'config.json')), torch_dtype: 'float16' }));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(SOURCE, f), join(dir, f));
  return dir;
}

const F16_MODEL = writeF16Folder();


testEachBackend('an F16 checkpoint kept as stored gives the widened float32 path\'s loss and GIFT gradients', () => {
  const kept = LlamaForCausalLM.fromPretrained(F16_MODEL, { keepStoredDtype: true });
  for (const [name, p] of kept.namedParameters()) {
    assert.equal(p.dtype, p.rank === 2 ? 'float16' : 'float32', name);
    if (p.rank === 2) assert.equal(p.storedMatrix!.codes.byteLength, 2 * p.size, `${name}: two bytes a value`);
    assert.equal(kept.sourceDtypes.get(name), 'F16');
  }
  assert.equal(kept.parameters().filter((p) => p.quantized).length, 0, 'kept, not quantized');
  for (const bf16Dot of [false, true]) {
    const a = giftLossAndGrads(LlamaForCausalLM.fromPretrained(F16_MODEL), bf16Dot);
    const b = giftLossAndGrads(LlamaForCausalLM.fromPretrained(F16_MODEL, { keepStoredDtype: true }), bf16Dot);
    assert.ok(Math.abs(a.loss - b.loss) < 1e-6, `bf16 dot ${bf16Dot}: widened ${a.loss} vs kept ${b.loss}`);
    b.grads.forEach((g, i) => assertClose(g, a.grads[i]!, `bf16 dot ${bf16Dot}: gradient ${i}`, 1e-6, 1e-5));
  }
});

test('--bf16 keeps an F16 checkpoint\'s matrices float16 (never rounded to bfloat16)', () => {
  const model = LlamaForCausalLM.fromPretrained(F16_MODEL, { matricesAsBf16: true });
  for (const [name, p] of model.namedParameters()) assert.equal(p.dtype, p.rank === 2 ? 'float16' : 'float32', name);
  model.storeFrozenWeightsAsBf16();
  assert.equal(model.model.layers[0]!.self_attn.q_proj!.weight.dtype, 'float16', 'storeFrozenWeightsAsBf16 leaves float16 as it is');
});

test('an adapter that trains a kept float16 weight widens it exactly; merge rounds once to float16 and unmerge restores the bits', () => {
  const widened = LlamaForCausalLM.fromPretrained(F16_MODEL);
  const full = LlamaForCausalLM.fromPretrained(F16_MODEL, { keepStoredDtype: true });
  attachAdapter(full, { method: 'full' });
  for (const [name, p] of full.namedParameters()) assert.equal(p.dtype, 'float32', name);
  assert.deepEqual(full.model.layers[0]!.self_attn.q_proj!.weight.read(), widened.model.layers[0]!.self_attn.q_proj!.weight.read());

  const model = LlamaForCausalLM.fromPretrained(F16_MODEL, { keepStoredDtype: true });
  const q = model.model.layers[1]!.self_attn.q_proj!.weight;
  const stored = q.storedMatrix!.codes.slice();
  const lora = attachAdapter(model, { method: 'lora', rank: 4, alpha: 8, target_modules: ['q_proj'] }, 5);
  const r = new Random(6);
  for (const [, t] of lora.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = 0.2 * r.normal();
  const before = q.toFloat32Array();
  const named = (part: string) => lora.namedTrainable().find(([n]) => n.includes('layers.1.') && n.includes(part))![1].toFloat32Array();
  const A = named('lora_A');
  const B = named('lora_B');
  lora.merge();
  assert.equal(q.dtype, 'float16', 'a merged float16 weight stays float16');
  // W + (alpha / r) B A, computed here in float64 and rounded once to float16.
  const [out, inF] = q.shape as [number, number];
  const expected = new Float32Array(out * inF);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inF; i++) {
      let d = 0;
      for (let k = 0; k < 4; k++) d += B![o * 4 + k]! * A![k * inF + i]!;
      expected[o * inF + i] = before[o * inF + i]! + 2 * d;
    }
  }
  assertClose(q.toFloat32Array(), float16ToFloat32(float32ToFloat16(expected)), 'merged', 1e-5, 1e-3);
  lora.unmerge();
  assert.deepEqual(q.storedMatrix!.codes, stored, 'unmerge gives back the stored halves');
});

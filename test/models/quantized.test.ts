// Quantized frozen bases (--quantize): a model whose matrices are quantized computes exactly what
// the same model computes with float32 weights set to the dequantized values -- on every backend,
// with float32 products and with bf16 dot products -- so the only change a quantized base brings
// is the quantization itself. Merging onto it, and what may not be trained, are checked too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { withBackend } from '../../src/backend/index.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { quantizeOption } from '../../src/cli/model_loading.js';
import { createBoxedBackend } from '../../src/testing/boxed_backend.js';
import { quantizeReference, type QuantFormat } from '../../src/formats/quantized.js';
import { assertClose, testEachBackend } from '../helpers.js';
import { giftLossAndGrads, STEP_IDS } from './gift_step.js';


const MODEL = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));
const IDS = STEP_IDS;

function load(format: QuantFormat | 'dequantized' | 'f32', reference: QuantFormat = 'int8'): LlamaForCausalLM {
  if (format === 'int8' || format === 'int4') return LlamaForCausalLM.fromPretrained(MODEL, { quantize: format });
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  if (format === 'dequantized') {
    // float32 weights holding exactly the values a quantized model computes with.
    for (const p of model.parameters()) if (p.rank === 2) p.assign(quantizeReference(p.read(), p.shape[0]!, p.shape[1]!, reference, 'w').dequantize());
  }
  return model;
}


for (const format of ['int8', 'int4'] as QuantFormat[]) {
  testEachBackend(`${format}: a quantized base gives the loss and adapter gradients of float32 weights holding its dequantized values`, () => {
    const quantized = load(format);
    assert.equal(quantized.parameters().filter((p) => p.dtype === format).length, 2 * 7 + 2, 'every Linear weight, the embedding and lm_head');
    assert.ok(quantized.parameters().filter((p) => p.rank === 1).every((p) => p.dtype === 'float32'), 'norms stay float32');
    for (const bf16Dot of [false, true]) {
      const q = giftLossAndGrads(bf16Dot ? load(format) : quantized, bf16Dot); // (one adapter a model)
      const d = giftLossAndGrads(load('dequantized', format), bf16Dot);
      assert.ok(Math.abs(q.loss - d.loss) < 1e-6, `bf16 dot ${bf16Dot}: quantized ${q.loss} vs dequantized ${d.loss}`);
      q.grads.forEach((g, i) => assertClose(g, d.grads[i]!, `bf16 dot ${bf16Dot}: gradient ${i}`, 1e-6, 1e-5));
    }
    // ... and differs from the float32 model by the quantization: int8 little, int4 more.
    const f32 = giftLossAndGrads(load('f32'));
    const q = giftLossAndGrads(load(format));
    const change = Math.abs(q.loss - f32.loss) / Math.abs(f32.loss);
    assert.ok(change > 0 && change < (format === 'int8' ? 2e-3 : 5e-2), `${format} ${q.loss} vs f32 ${f32.loss}`);
  });
}

testEachBackend('merging onto a quantized base writes bf16 weights from the dequantized ones; unmerging gives the quantized matrix back', () => {
  const model = load('int4');
  const { gift } = giftLossAndGrads(model);
  const w = model.model.layers[0]!.self_attn.q_proj!.weight;
  const codes = w.quantized!.codes;
  const adapted = noGrad(() => model.forward(IDS, 2, 5).toFloat32Array());
  gift.merge();
  assert.equal(w.dtype, 'bfloat16', 'a merged weight becomes bfloat16');
  assert.equal(model.model.layers[0]!.self_attn.k_proj!.weight.dtype, 'int4', 'an untargeted one stays quantized');
  // W_hat = dequantized W + delta, rounded to bfloat16 once: the logits move by that rounding only.
  assertClose(noGrad(() => model.forward(IDS, 2, 5).toFloat32Array()), adapted, 'merged', 5e-2, 5e-2);
  gift.unmerge();
  assert.equal(w.dtype, 'int4');
  assert.equal(w.quantized!.codes, codes, 'the same quantized matrix');
  assert.deepEqual(noGrad(() => model.forward(IDS, 2, 5).toFloat32Array()), adapted);
});

test('a quantized base is frozen: methods that train its matrices are refused by name; a backend without quantized kernels refuses --quantize', () => {
  assert.throws(() => attachAdapter(load('int8'), { method: 'full' }, 0, 'command line'), /command line: full would train 'model\.embed_tokens\.weight', which is quantized \(int8\); a quantized base is frozen/);
  const qwen2 = fileURLToPath(new URL('../../../test/fixtures/llama/qwen2-bias', import.meta.url));
  assert.doesNotThrow(() => attachAdapter(LlamaForCausalLM.fromPretrained(qwen2, { quantize: 'int8' }), { method: 'bitfit' }, 0, 'command line'), 'BitFit trains the biases only');
  assert.throws(() => quantizeOption('int3'), /--quantize must be int8 or int4, got 'int3'/);
  withBackend(createBoxedBackend(), () => {
    assert.throws(() => quantizeOption('int4'), /--quantize runs on the CPU backends \(native, ref\); the boxed backend has no quantized kernels/);
  });
});

// Frozen weights stored as bfloat16: the same losses and adapter gradients as float32 weights
// rounded to bfloat16 (the arithmetic is float32 either way), close to the float32 model's, at
// half the weight memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nativeAddon, setBf16Compute } from '../../src/backend/index.js';
import { LlamaForCausalLM, shiftLabels } from '../../src/models/llama/model.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { bf16ToFloat32, float32ToBf16 } from '../../src/formats/dtype.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { tidy } from '../../src/tensor/memory.js';
import { Random } from '../../src/tensor/random.js';
import { assertClose, testEachBackend } from '../helpers.js';

const MODEL = fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url));
const IDS = [1, 40, 7, 80, 22, 5, 63, 11, 2, 90];

type Variant = 'f32' | 'rounded' | 'bf16' | 'bf16-dot';

function run(variant: Variant) {
  const model = LlamaForCausalLM.fromPretrained(MODEL);
  const gift = attachAdapter(model, { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'] }, 3);
  const r = new Random(4);
  for (const [, t] of gift.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = 0.3 * r.normal();
  if (variant === 'rounded') {
    for (const p of model.parameters()) if (p.rank === 2) p.data.set(bf16ToFloat32(float32ToBf16(p.data)));
  }
  if (variant === 'bf16' || variant === 'bf16-dot') assert.equal(model.storeFrozenWeightsAsBf16(), 2 * 7 + 2, 'every Linear weight, the embedding and lm_head');
  setBf16Compute(variant === 'bf16-dot');
  const loss = tidy(() => {
    const l = crossEntropy(model.forward(IDS, 2, 5), shiftLabels(IDS, 2, 5));
    l.backward();
    return l.item();
  });
  setBf16Compute(false);
  const grads = gift.namedTrainable().map(([, t]) => t.grad!.toFloat32Array());
  return { model, gift, loss, grads };
}

testEachBackend('bf16-stored weights give the float32 results of bf16-rounded weights', () => {
  const f32 = run('f32');
  const rounded = run('rounded');
  const bf16 = run('bf16');
  assert.ok(Math.abs(bf16.loss - rounded.loss) < 1e-6, `bf16 ${bf16.loss} vs rounded ${rounded.loss}`);
  bf16.grads.forEach((g, i) => assertClose(g, rounded.grads[i]!, `gradient ${i}`, 1e-6, 1e-5));
  // ... and differ from the float32 model only by the weights' rounding
  assert.ok(Math.abs(bf16.loss - f32.loss) < 2e-2 * Math.abs(f32.loss) && bf16.loss !== f32.loss, `bf16 ${bf16.loss} vs f32 ${f32.loss}`);
  bf16.grads.forEach((g, i) => assertClose(g, f32.grads[i]!, `gradient ${i} vs f32`, 2e-2, 5e-2));
});

test('bf16 storage halves the weights, refuses trainable tensors, and merges', () => {
  const { model, gift } = run('bf16');
  const w = model.model.layers[0]!.self_attn.q_proj!.weight;
  assert.equal(w.dtype, 'bfloat16');
  assert.equal(w.bf16Bits.byteLength, w.size * 2);
  assert.throws(() => w.data, /is stored as bfloat16 \(a frozen weight\)/);
  const phi = gift.namedTrainable()[0]![1];
  assert.throws(() => phi.storeAsBf16(), /is trainable; only frozen weights are stored as bfloat16/);
  const before = noGrad(() => model.forward(IDS, 2, 5).toFloat32Array());
  gift.merge();
  assert.equal(w.dtype, 'bfloat16', 'the merged weight stays bfloat16');
  // W_hat is rounded to bfloat16 once: logits move by that rounding only
  assertClose(noGrad(() => model.forward(IDS, 2, 5).data), before, 'merged', 5e-2, 5e-2);
  gift.unmerge();
  assertClose(noGrad(() => model.forward(IDS, 2, 5).data), before, 'unmerged', 1e-5, 1e-5);
});

testEachBackend('bf16 dot products (activations rounded too) stay within bf16 rounding of float32', (backend) => {
  const f32 = run('f32');
  const dot = run('bf16-dot');
  const widened = run('bf16');
  assert.ok(Math.abs(dot.loss - f32.loss) < 2e-2 * Math.abs(f32.loss), `bf16 dot ${dot.loss} vs f32 ${f32.loss}`);
  dot.grads.forEach((g, i) => assertClose(g, f32.grads[i]!, `gradient ${i}`, 5e-2, 1e-1));
  // the activations' rounding shows: not the widened result (where the native CPU has AVX-512 BF16; ref emulates it)
  if (backend === 'ref' || nativeAddon()?.cpuInfo().features.includes('avx512bf16')) assert.notEqual(dot.loss, widened.loss);
});

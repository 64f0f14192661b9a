// The ViT network: its patch embedding is the strided convolution (checked against a direct
// float64 convolution), GIFT targets the attention output projection by its dotted name, and
// gradients match finite differences.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { imagesToPatches, ViTForImageClassification, type ViTConfig } from '../../src/models/vit/model.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Random } from '../../src/tensor/random.js';
import { assertClose, assertGradcheck } from '../helpers.js';

const TINY: ViTConfig = { hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 24, imageSize: 8, patchSize: 4, numChannels: 3, numLabels: 5, layerNormEps: 1e-12 };

test('patch embedding equals a stride-p convolution', () => {
  const model = new ViTForImageClassification(TINY, new Random(1));
  const r = new Random(2);
  const pixels = Float32Array.from({ length: 2 * 3 * 8 * 8 }, () => r.normal());
  const emb = noGrad(() => model.vit.embeddings.patch_embeddings.forward(imagesToPatches(pixels, 2, TINY)));
  assert.deepEqual(emb.shape, [2, 4, 16]);
  const w = model.vit.embeddings.patch_embeddings.weight.data;
  const bias = model.vit.embeddings.patch_embeddings.bias.data;
  const expected: number[] = [];
  for (let b = 0; b < 2; b++) for (let py = 0; py < 2; py++) for (let px = 0; px < 2; px++) for (let o = 0; o < 16; o++) {
    let s = bias[o]!;
    for (let c = 0; c < 3; c++) for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) {
      s += w[((o * 3 + c) * 4 + y) * 4 + x]! * pixels[((b * 3 + c) * 8 + py * 4 + y) * 8 + px * 4 + x]!;
    }
    expected.push(s);
  }
  assertClose(emb.data, expected, 'conv', 1e-5, 1e-5);
});

test('GIFT on attention.output.dense (+ the classifier) trains with correct gradients', () => {
  const model = new ViTForImageClassification(TINY, new Random(3));
  const gift = attachAdapter(model, { method: 'gift', rank: 3, target_modules: ['attention.output.dense'] }, 4);
  assert.equal(gift.trainableCount(), 2 * 16 * 3);
  assert.deepEqual(gift.describe(), ["gift group 'attention.output.dense': 2 layers (attention.output.dense), in 16, rank 3: 96 parameters"]);
  const r = new Random(5);
  for (const [, t] of gift.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = 0.3 * r.normal();
  const patches = imagesToPatches(Float32Array.from({ length: 2 * 3 * 64 }, () => r.normal()), 2, TINY);
  const [[, phi], [, psi]] = gift.namedTrainable();
  assertGradcheck(() => crossEntropy(model.forward(patches), [1, 4]), [phi!, psi!], 'gift phi, psi');
  model.classifier.weight.requiresGrad = true;
  assertGradcheck(() => crossEntropy(model.forward(patches), [1, 4]), [model.classifier.weight], 'classifier');
  const names = model.namedParameters().map(([n]) => n);
  for (const n of ['vit.embeddings.cls_token', 'vit.embeddings.patch_embeddings.projection.weight', 'vit.encoder.layer.1.attention.attention.query.weight',
    'vit.encoder.layer.1.attention.output.dense.bias', 'vit.encoder.layer.0.intermediate.dense.weight', 'vit.encoder.layer.0.output.dense.weight', 'vit.layernorm.bias', 'classifier.weight']) {
    assert.ok(names.includes(n), n);
  }
});

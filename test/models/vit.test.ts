// The ViT network: its patch embedding is the strided convolution (checked against a direct
// float64 convolution), GIFT targets the attention output projection by its dotted name, and
// gradients match finite differences.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { imagesToPatches, readViTConfig, ViTForImageClassification, type ViTConfig } from '../../src/models/vit/model.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { collateImages } from '../../src/train/tasks/image_classification.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Random } from '../../src/tensor/random.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
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
  // Too few values had been read past their end, as NaN; a shorter image in a batch padded with zeros.
  assert.throws(() => imagesToPatches(pixels.subarray(0, 300), 2, TINY), /imagesToPatches: 300 values for 2 images of 3 x 8 x 8 \(384\)/);
  assert.throws(() => collateImages([{ pixels: pixels.subarray(0, 192), label: 0, where: 'a' }, { pixels: pixels.subarray(0, 100), label: 1, where: 'b' }]), /collateImages: image 1 \(b\) holds 100 values, image 0 \(a\) 192; a batch's images have one size/);
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

const FIXTURES = new URL('../../../test/fixtures/encoders/', import.meta.url).pathname;

function readReference(): Map<string, Float32Array | number[]> {
  const f = SafetensorsFile.open(`${FIXTURES}vit/reference.safetensors`);
  const out = new Map<string, Float32Array | number[]>();
  for (const [n, info] of f.tensors) {
    if (info.dtype === 'I64') out.set(n, f.readIntegers(n).values);
    else out.set(n, new Float32Array(f.readTensor(n).data));
  }
  f.close();
  return out;
}

for (const folder of ['vit', 'vit-timm']) {
  test(`ViTForImageClassification from ${folder === 'vit' ? 'a Hugging Face' : "a timm (fused qkv, blocks.N)"} folder: logits and GIFT (attention.output.dense) gradients equal PyTorch's`, () => {
    const ref = readReference();
    const model = ViTForImageClassification.fromPretrained(`${FIXTURES}${folder}`);
    assert.equal(model.newHead, false);
    assert.deepEqual(model.config.labels, ['a', 'b', 'c']);
    const patches = imagesToPatches(ref.get('pixel_values') as Float32Array, 2, model.config);
    assertClose(noGrad(() => model.forward(patches)).data, ref.get('logits') as Float32Array, 'logits', 1e-5, 1e-4);
    const target = folder === 'vit' ? 'attention.output.dense' : 'attn.proj';
    const gift = attachAdapter(model, { method: 'gift', rank: 4, alpha: 4, target_modules: [target], modules_to_save: ['classifier'] });
    const named = new Map(gift.namedTrainable());
    named.get(`gift.${target}.phi`)!.assign(ref.get('gift.attention.output.dense.phi') as Float32Array);
    named.get(`gift.${target}.psi`)!.assign(ref.get('gift.attention.output.dense.psi') as Float32Array);
    const loss = crossEntropy(model.forward(patches), ref.get('labels') as number[]);
    assertClose([loss.item()], ref.get('gift_loss') as Float32Array, 'GIFT loss', 1e-5, 1e-4);
    loss.backward();
    assertClose(named.get(`gift.${target}.phi`)!.grad!.data, ref.get('grad.gift.attention.output.dense.phi') as Float32Array, 'grad phi', 1e-5, 1e-3);
    assertClose(named.get(`gift.${target}.psi`)!.grad!.data, ref.get('grad.gift.attention.output.dense.psi') as Float32Array, 'grad psi', 1e-5, 1e-3);
    assertClose(named.get('classifier.weight')!.grad!.data, ref.get('grad.classifier.weight') as Float32Array, 'grad head', 1e-5, 1e-3);
  });
}

test('a ViT config whose layer_norm_eps is not a positive number is refused by file and field (a string had become the default)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-vit-eps-'));
  const raw = JSON.parse(readFileSync(`${FIXTURES}vit/config.json`, 'utf8')) as Record<string, unknown>;
  for (const eps of ['1e-12', -1]) {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, layer_norm_eps: eps }));
    assert.throws(() => readViTConfig(dir), new RegExp(`config.json: 'layer_norm_eps' must be a positive number, got ${JSON.stringify(eps)}`));
  }
  rmSync(dir, { recursive: true });
  assert.equal(readViTConfig(`${FIXTURES}vit`).config.layerNormEps, raw.layer_norm_eps);
});

test('ViT fromPretrained with another number of labels makes a fresh head and keeps the backbone', () => {
  const model = ViTForImageClassification.fromPretrained(`${FIXTURES}vit`, { labels: ['x', 'y'] });
  assert.equal(model.newHead, true);
  assert.deepEqual(model.classifier.weight.shape, [2, 16]);
});

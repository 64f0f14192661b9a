// GIFT's cluster maps: the responses are the layer's outputs dotted with the prototypes W @ phi^T
// (checked in float64 on a single layer), and gift explain draws them for a ViT and an image.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { clusterMaps, giftLayers } from '../../src/explain/cluster_maps.js';
import { Linear } from '../../src/nn/layers.js';
import { Module } from '../../src/nn/module.js';
import { ViTForImageClassification } from '../../src/models/vit/model.js';
import { BertForSequenceClassification } from '../../src/models/bert/model.js';
import { attachAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import { Random } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { assertClose } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

class OneLayer extends Module {
  readonly proj: Linear;
  constructor(rng: Random) {
    super();
    this.proj = this.child('proj', new Linear(6, 5, rng));
  }
}

test('cluster maps: before = (x W^T + b) W phi^T, after = ((x + s x psi phi) W^T + b) W phi^T, per token and prototype', () => {
  const rng = new Random(3);
  const model = new OneLayer(rng);
  const adapter = attachAdapter(model, { method: 'gift', rank: 2, alpha: 4, target_modules: ['proj'] }, 1);
  const [phiT, psiT] = adapter.namedTrainable().map(([, t]) => t);
  psiT!.assign(Tensor.randn(psiT!.shape, rng, 0.5).data);
  const x = Tensor.randn([4, 6], rng);
  const layer = giftLayers(model)[0]!;
  const maps = clusterMaps(layer, () => void model.proj.forward(x));
  const W = model.proj.weight.data;
  const b = model.proj.bias!.data;
  const phi = phiT!.data;
  const psi = psiT!.data;
  const s = 2;
  const proto = (o: number, p: number) => Array.from({ length: 6 }, (_, i) => W[o * 6 + i]! * phi[p * 6 + i]!).reduce((a, v) => a + v, 0);
  const expected = (edit: boolean) => {
    const out: number[] = [];
    for (let t = 0; t < 4; t++) {
      const xt = Array.from({ length: 6 }, (_, i) => x.data[t * 6 + i]!);
      const z = edit ? xt.map((v, i) => v + s * [0, 1].reduce((a, r) => a + xt.reduce((q, xv, j) => q + xv * psi[j * 2 + r]!, 0) * phi[r * 6 + i]!, 0)) : xt;
      const y = Array.from({ length: 5 }, (_, o) => b[o]! + z.reduce((a, v, i) => a + v * W[o * 6 + i]!, 0));
      for (let p = 0; p < 2; p++) out.push(y.reduce((a, v, o) => a + v * proto(o, p), 0));
    }
    return out;
  };
  assert.equal(maps.tokens, 4);
  assertClose(maps.before, expected(false), 'before', 1e-5, 1e-4);
  assertClose(maps.after, expected(true), 'after', 1e-5, 1e-4);
  assert.ok(model.proj.adapter === layer.adapter, 'the adapter is back in place');
});

test('gift explain --image on a ViT: a heat map per prototype before and after, and the grid', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-explain-'));
  const modelDir = join(ROOT, 'test/fixtures/encoders/vit');
  const model = ViTForImageClassification.fromPretrained(modelDir);
  const adapter = attachAdapter(model, { method: 'gift', rank: 3, target_modules: ['attention.output.dense'], modules_to_save: ['classifier'] }, 2);
  const psi = adapter.namedTrainable().find(([n]) => n.endsWith('.psi'))![1];
  psi.assign(Tensor.randn(psi.shape, new Random(4), 0.5).data);
  saveAdapter(join(dir, 'adapter'), adapter, { path: modelDir, architecture: 'ViTForImageClassification' }, { task: { type: 'imgcls', id2label: ['a', 'b', 'c'] } });
  const image = join(dir, 'image.png');
  const rgb = Buffer.alloc(8 * 8 * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37) % 256;
  await sharp(rgb, { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(image);
  const out = join(dir, 'maps');
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), 'explain', '--model', modelDir, '--adapter', join(dir, 'adapter'), '--image', image, '--out', out, '--size', '32'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /layer vit\.encoder\.layer\.1\.attention\.output\.dense .*3 prototypes/);
  for (let p = 0; p < 3; p++) for (const phase of ['before', 'after']) assert.ok(existsSync(join(out, `prototype_${p}_${phase}.png`)));
  const meta = await sharp(join(out, 'grid.png')).metadata();
  assert.deepEqual([meta.width, meta.height], [4 * 32 + 5 * 4, 2 * 32 + 3 * 4]);
  assert.equal(JSON.parse(readFileSync(join(out, 'explain.json'), 'utf8')).rank, 3);
});

test('gift explain --text on a BERT classifier: the top tokens of every prototype, after and before', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-explain-text-'));
  const modelDir = join(ROOT, 'test/fixtures/encoders/bert');
  const model = BertForSequenceClassification.fromPretrained(modelDir, 3);
  const adapter = attachAdapter(model, { method: 'gift', rank: 3, target_modules: ['query', 'value'], modules_to_save: ['classifier'] }, 2);
  saveAdapter(join(dir, 'adapter'), adapter, { path: modelDir, architecture: 'BertForSequenceClassification' }, {
    task: { type: 'seqcls', problem_type: 'single_label_classification', id2label: ['neg', 'pos', 'neutral'], text_fields: ['sentence'], label_field: 'label', max_length: 16 },
  });
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), 'explain', '--model', modelDir, '--adapter', join(dir, 'adapter'), '--text', 'the big dog sat on the mat', '--top', '2'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /layer bert\.encoder\.layer\.1\.attention\.self\.value \(GIFT group 'value', 3 prototypes\)/);
  const lines = r.stdout.trim().split('\n').filter((l) => /^ {2}prototype \d:/.test(l));
  assert.equal(lines.length, 3);
  // psi is zero: the adapter has not changed the layer yet, so after == before.
  for (const l of lines) {
    const [, after, before] = /: (.*) {3}\((.*)\)$/.exec(l)!;
    assert.equal(after, before);
    assert.equal(after!.split(' ').length, 2);
  }
});

test('gift explain --text reads at the length the classifier was trained with, and refuses what its input kind does not read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-explain-length-'));
  const modelDir = join(ROOT, 'test/fixtures/encoders/bert');
  const model = BertForSequenceClassification.fromPretrained(modelDir, 2);
  const adapter = attachAdapter(model, { method: 'gift', rank: 3, target_modules: ['query', 'value'], modules_to_save: ['classifier'] }, 2);
  const task = { type: 'seqcls', problem_type: 'single_label_classification', id2label: ['neg', 'pos'], text_fields: ['sentence'], label_field: 'label', max_length: 4 };
  saveAdapter(join(dir, 'adapter'), adapter, { path: modelDir, architecture: 'BertForSequenceClassification' }, { task });
  const explain = (adapterDir: string, ...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), 'explain', '--model', modelDir, '--adapter', adapterDir, ...args], { encoding: 'utf8' });
  const r = explain(join(dir, 'adapter'), '--text', 'the big dog sat on the mat', '--top', '10');
  assert.equal(r.status, 0, r.stderr);
  // Trained at 4 tokens: [CLS], three words, [SEP] cut to 4. It had read 128 (all 9 tokens).
  const lines = r.stdout.trim().split('\n').filter((l) => /^ {2}prototype \d:/.test(l));
  assert.equal(lines.length, 3);
  for (const l of lines) assert.equal(/: (.*) {3}\(/.exec(l)![1]!.split(' ').length, 4, l);
  const refusals: [string[], RegExp][] = [
    [['--text', 'a dog', '--image', join(dir, 'none.png'), '--out', join(dir, 'o')], /give --image \(ViT\) or --text \(text classifiers\), not both/],
    [['--text', 'a dog', '--size', '64'], /--size goes with --image, not --text/],
    [['--text', 'a dog', '--out', join(dir, 'o')], /--out goes with --image, not --text/],
    [['--image', join(dir, 'none.png'), '--out', join(dir, 'o'), '--top', '3'], /--top goes with --text, not --image/],
  ];
  for (const [args, message] of refusals) {
    const refused = explain(join(dir, 'adapter'), ...args);
    assert.equal(refused.status, 1, args.join(' '));
    assert.match(refused.stderr, message);
  }
  saveAdapter(join(dir, 'pairs'), adapter, { path: modelDir, architecture: 'BertForSequenceClassification' }, { task: { ...task, text_fields: ['sentence1', 'sentence2'], pair_head: true } });
  const pairs = explain(join(dir, 'pairs'), '--text', 'a dog');
  assert.equal(pairs.status, 1);
  assert.match(pairs.stderr, /this classifier reads sentence pairs \(task\.pair_head\), each text encoded alone; gift explain --text maps one text through a classifier of single texts, and not yet through a pair head/);
  saveAdapter(join(dir, 'no-length'), adapter, { path: modelDir, architecture: 'BertForSequenceClassification' }, { task: { ...task, max_length: 'long' } });
  const bad = explain(join(dir, 'no-length'), '--text', 'a dog');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /no-length\/adapter_config\.json: task\.max_length must be a whole number of tokens >= 1 \(the length the classifier was trained with\), got "long"/);
});

test('gift explain estimates its forward before loading the model, and refuses past --memory-limit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-explain-memory-'));
  const bertDir = join(ROOT, 'test/fixtures/encoders/bert');
  const bert = attachAdapter(BertForSequenceClassification.fromPretrained(bertDir, 2), { method: 'gift', rank: 3, target_modules: ['query', 'value'], modules_to_save: ['classifier'] }, 2);
  saveAdapter(join(dir, 'text'), bert, { path: bertDir, architecture: 'BertForSequenceClassification' }, {
    task: { type: 'seqcls', problem_type: 'single_label_classification', id2label: ['neg', 'pos'], text_fields: ['sentence'], label_field: 'label', max_length: 16 },
  });
  const vitDir = join(ROOT, 'test/fixtures/encoders/vit');
  const vit = attachAdapter(ViTForImageClassification.fromPretrained(vitDir), { method: 'gift', rank: 3, target_modules: ['attention.output.dense'], modules_to_save: ['classifier'] }, 2);
  saveAdapter(join(dir, 'image'), vit, { path: vitDir, architecture: 'ViTForImageClassification' }, { task: { type: 'imgcls', id2label: ['a', 'b', 'c'] } });
  const image = join(dir, 'image.png');
  await sharp(Buffer.alloc(8 * 8 * 3, 90), { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(image);
  const explain = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), 'explain', ...args], { encoding: 'utf8' });
  const runs: [string, string[]][] = [
    ['text', ['--model', bertDir, '--adapter', join(dir, 'text'), '--text', 'the big dog']],
    ['image', ['--model', vitDir, '--adapter', join(dir, 'image'), '--image', image, '--out', join(dir, 'maps'), '--size', '16']],
  ];
  for (const [kind, args] of runs) {
    // The fixtures' weights alone are above 1 MB: refused before they are read, nothing written.
    const refused = explain(...args, '--memory-limit', '1M');
    assert.equal(refused.status, 1, `${kind}: ${refused.stderr}`);
    assert.match(refused.stderr, /gift explain needs about \d+ MB .*this process may use 1 MB \(--memory-limit\); nothing was loaded\. no smaller batch fits/s, kind);
    assert.ok(!existsSync(join(dir, 'maps')), kind);
    const ran = explain(...args);
    assert.equal(ran.status, 0, `${kind}: ${ran.stderr}`);
    assert.match(ran.stderr, /memory: about \d+ MB/, kind);
  }
});

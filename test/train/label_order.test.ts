// A classifier fine-tuned from a checkpoint with a trained head keeps the checkpoint's label order
// (config.json's id2label) wherever the data's labels are among its names, as transformers' run_glue
// maps them through the model's label2id: each class stays on the row of the head trained for it.
// The encoder fixtures' heads are {0: neg, 1: pos, 2: neutral} (BERT) and {0: a, 1: b, 2: c} (ViT).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { DataRecord } from '../../src/data/examples.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { fineTuneClassifier } from '../../src/train/classifier_run.js';
import { fineTuneImageClassifier } from '../../src/train/image_classifier_run.js';
import { labelOrder } from '../../src/train/label_order.js';
import { DEFAULT_TRAIN_OPTIONS } from '../../src/train/trainer.js';
import { Random } from '../../src/tensor/random.js';
import { fixtureCopy } from '../helpers.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/encoders/', import.meta.url));
// One update at a learning rate that moves nothing visible: the trained head is the checkpoint's.
const OPTIONS = { ...DEFAULT_TRAIN_OPTIONS, maxSteps: 1, batchSize: 6, lr: 1e-12, warmupRatio: 0 };
const METHOD = { method: 'gift', rank: 2, target_modules: ['query', 'value'] };

test('labelOrder: the checkpoint\'s names where they hold every data label (a missing class keeps its row), numbered labels as numbered, else the data\'s with a warning', () => {
  const ckpt = ['neg', 'pos', 'neutral'];
  assert.deepEqual(labelOrder(['neg', 'neutral', 'pos'], ckpt).names, ckpt);
  assert.match(labelOrder(['neg', 'neutral', 'pos'], ckpt).note!, /labels in the checkpoint's order \(its id2label: neg, pos, neutral\)/);
  assert.deepEqual(labelOrder(['neg', 'pos'], ckpt).names, ckpt, 'a class the data lacks keeps its row');
  assert.deepEqual(labelOrder(['neg', 'pos', 'neutral'], ckpt), { names: ckpt, note: null });
  assert.deepEqual(labelOrder(['0', '1', '2'], ckpt), { names: ['0', '1', '2'], note: null });
  const other = labelOrder(['bad', 'good'], ckpt);
  assert.deepEqual(other.names, ['bad', 'good']);
  assert.match(other.note!, /warning: the checkpoint's id2label \(neg, pos, neutral\) does not name the data's labels bad, good: the data's labels are used in their own order/);
  assert.deepEqual(labelOrder(['b', 'a'], null), { names: ['b', 'a'], note: null });
});

/** The rows of a matrix in a safetensors file. */
function rowsOf(file: string, name: string): number[][] {
  const f = SafetensorsFile.open(file);
  const t = f.readTensor(name);
  const rows = Array.from({ length: t.shape[0]! }, (_, i) => Array.from(t.data.subarray(i * t.shape[1]!, (i + 1) * t.shape[1]!)));
  t.dispose();
  f.close();
  return rows;
}

test('fineTuneClassifier on BERT with labels named as its head\'s: the adapter\'s id2label is the checkpoint\'s, each name on its trained row', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-label-order-'));
  const words = ['good', 'bad', 'fine', 'nice', 'poor', 'ok'];
  const train: DataRecord[] = Array.from({ length: 6 }, (_, i) => ({ where: `train[${i}]`, value: { text: `${words[i]} ${words[(i + 2) % 6]}`, label: ['neg', 'pos', 'neutral'][i % 3] } }));
  const lines: string[] = [];
  await fineTuneClassifier({ modelDir: join(FIXTURES, 'bert'), train, method: METHOD, options: OPTIONS, outDir: join(dir, 'run'), log: (l) => lines.push(l) });
  const config = JSON.parse(readFileSync(join(dir, 'run/adapter/adapter_config.json'), 'utf8')) as { task: { id2label: string[] } };
  assert.deepEqual(config.task.id2label, ['neg', 'pos', 'neutral'], 'sorted, they had been neg, neutral, pos on the rows of neg, pos, neutral');
  assert.ok(lines.some((l) => /labels in the checkpoint's order/.test(l)), lines.join('\n'));
  const trained = rowsOf(join(dir, 'run/adapter/adapter_model.safetensors'), 'classifier.weight');
  rowsOf(join(FIXTURES, 'bert/model.safetensors'), 'classifier.weight').forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - trained[i]![j]!) < 1e-6, `row ${i} (${config.task.id2label[i]})`)));
});

test('fineTuneImageClassifier on ViT with classes named as its head\'s: the checkpoint\'s order, the examples\' labels moved with it', async () => {
  // The head's rows named c, a, b; the image folders' classes come sorted: a, b, c.
  const { dir, model } = fixtureCopy('encoders/vit', { id2label: { 0: 'c', 1: 'a', 2: 'b' }, label2id: { c: 0, a: 1, b: 2 } });
  const r = new Random(2);
  // Pixels made at each read, by a getter, as a loaded set's images make them.
  const examples = Array.from({ length: 6 }, (_, i) => {
    const values = Float32Array.from({ length: 3 * 64 }, () => r.normal());
    return { get pixels() { return values.slice(); }, label: i % 3, where: `img${i}` };
  });
  const lines: string[] = [];
  const run = await fineTuneImageClassifier({ modelDir: model, train: { labels: ['a', 'b', 'c'], examples }, validation: { labels: ['a', 'b', 'c'], examples }, method: { method: 'gift', rank: 2, target_modules: ['attention.output.dense'] }, options: OPTIONS, outDir: join(dir, 'run'), log: (l) => lines.push(l) });
  const config = JSON.parse(readFileSync(join(dir, 'run/adapter/adapter_config.json'), 'utf8')) as { task: { id2label: string[] } };
  assert.deepEqual(config.task.id2label, ['c', 'a', 'b']);
  assert.ok(lines.some((l) => /labels in the checkpoint's order/.test(l)), lines.join('\n'));
  assert.ok(run.validation, 'the validation set is scored with its labels moved too');
  const trained = rowsOf(join(dir, 'run/adapter/adapter_model.safetensors'), 'classifier.weight');
  rowsOf(join(model, 'model.safetensors'), 'classifier.weight').forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - trained[i]![j]!) < 1e-6, `row ${i}`)));
});

test('fineTuneImageClassifier refuses a dropPath outside [0, 1) by name before it reads the model folder', async () => {
  const examples = [0, 1].map((label) => ({ pixels: new Float32Array(3), label, where: `img${label}` }));
  for (const dropPath of [1, -0.1, Number.NaN]) {
    await assert.rejects(fineTuneImageClassifier({ modelDir: join(tmpdir(), 'giftjs-no-such-model'), train: { labels: ['a', 'b'], examples }, method: { method: 'gift', rank: 2, target_modules: ['attention.output.dense'] }, options: OPTIONS, dropPath }),
      new RegExp(`fineTuneImageClassifier: dropPath \\(timm's drop_path_rate\\) must be in \\[0, 1\\), got ${dropPath}`));
  }
});

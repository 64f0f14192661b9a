// Sequence classification end to end through the command line, on the embedded encoder and real
// e-mails: gift convert use-lite, gift train --task seqcls (GIFT with a new head), gift eval
// --task seqcls on the saved adapter; plus the loss and label handling underneath.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { spamAssassinRecords } from '../../src/data/corpora.js';
import { readTsv } from '../../src/data/tables.js';
import { labelSpaceOf, splitRecords } from '../../src/data/seqcls.js';
import { sequenceClassificationLoss } from '../../src/train/tasks/sequence_classification.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Random } from '../../src/tensor/random.js';
import { USE_LITE_DEFAULTS } from '../../src/models/use_lite/config.js';
import { UseLiteForSequenceClassification } from '../../src/models/use_lite/model.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { loadSequenceClassifier } from '../../src/models/registry.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { collateSeqCls } from '../../src/data/seqcls.js';
import { assertClose, assertGradcheck, needsShared, SHARED_DIR } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'giftjs-seqcls-'));

function gift(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function writeTsv(path: string, rows: { text: string; label: string }[]): void {
  writeFileSync(path, `\uFEFFtext\tlabel\n${rows.map((r) => `${r.text.replace(/[\t\n]/g, ' ').slice(0, 300)}\t${r.label}`).join('\n')}\n`);
}

test('gift train --task seqcls (GIFT + head) then gift eval --task seqcls on real e-mails: the same test metrics, the head saved', () => {
  const model = join(dir, 'use-lite');
  assert.equal(gift('convert', 'use-lite', '--out', model).code, 0);
  const records = spamAssassinRecords().map((r) => ({ text: String(r.value.text), label: String(r.value.label) }));
  const { train, test: held } = splitRecords(records, [0.02, 0.97], 3);
  // Fractions past 1 together, or NaN, had shortened or emptied a split silently.
  assert.throws(() => splitRecords(records, [0.8, 0.3], 3), /splitRecords: the train and validation fractions must be >= 0 and together at most 1 \(the rest is the test split\), got 0.8 and 0.3/);
  assert.throws(() => splitRecords(records, [NaN, 0.1], 3), /got NaN and 0.1/);
  writeTsv(join(dir, 'train.tsv'), train);
  writeTsv(join(dir, 'test.tsv'), held.slice(0, 48));
  const out = join(dir, 'run');
  const t = gift('train', '--task', 'seqcls', '--model', model, '--data', join(dir, 'train.tsv'), '--test-data', join(dir, 'test.tsv'), '--out', out,
    '--method', 'gift', '--rank', '4', '--max-steps', '3', '--batch-size', '8', '--max-length', '32', '--lr', '1e-3', '--json');
  assert.equal(t.code, 0, t.err);
  const trained = JSON.parse(t.out.trim().split('\n').pop()!);
  // GIFT groups per input size (256 and 512) for query and value, plus the 2-label head.
  assert.equal(trained.trainable_parameters, 2 * 4 * (256 + 256 + 512 + 512) + 2 * 512 + 2);
  const config = JSON.parse(readFileSync(join(out, 'adapter/adapter_config.json'), 'utf8'));
  assert.deepEqual(config.modules_to_save, ['classifier']);
  assert.deepEqual(config.task.id2label, ['ham', 'spam']);
  const e = gift('eval', '--task', 'seqcls', '--model', model, '--adapter', join(out, 'adapter'), '--data', join(dir, 'test.tsv'), '--json');
  assert.equal(e.code, 0, e.err);
  const evaluated = JSON.parse(e.out.trim().split('\n').pop()!);
  assert.equal(evaluated.examples, 48);
  assert.ok(Math.abs(evaluated.accuracy - trained.test.accuracy) < 1e-12, `eval ${evaluated.accuracy} vs train-time ${trained.test.accuracy}`);
  assert.ok(Math.abs(evaluated.loss - trained.test.loss) < 1e-6);
  const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
  assert.equal(metrics.test.examples, 48);
});

test('gift eval --task seqcls without an adapter says what it needs', () => {
  const r = gift('eval', '--task', 'seqcls', '--model', join(dir, 'use-lite'), '--data', join(dir, 'test.tsv'));
  assert.notEqual(r.code, 0);
  assert.match(r.err, /--task seqcls needs --adapter/);
});

test('seqcls loss: cross-entropy for classes and squared error for regression, with their gradients', () => {
  const logits = Tensor.fromArray([0.2, -1, 0.5, 1.5, 0, 0.3], [3, 2]).requireGrad();
  const ce = sequenceClassificationLoss(logits, [1, 0, 1], { kind: 'classification', names: ['0', '1'] }).item();
  const lse = (a: number, b: number) => Math.log(Math.exp(a) + Math.exp(b));
  assert.ok(Math.abs(ce - (lse(0.2, -1) + 1 + lse(0.5, 1.5) - 0.5 + lse(0, 0.3) - 0.3)) < 1e-5);
  const pred = Tensor.fromArray([0.5, 2, -1], [3, 1]).requireGrad();
  const se = sequenceClassificationLoss(pred, [1, 2, 0.5], { kind: 'regression', names: ['score'] }).item();
  assert.ok(Math.abs(se - (0.25 + 0 + 2.25)) < 1e-6);
  assertGradcheck((x) => sequenceClassificationLoss(x, [1, 2, 0.5], { kind: 'regression', names: ['score'] }), [Tensor.fromArray([0.5, 2.2, -1], [3, 1]).requireGrad()], 'squared error');
});

test('labels: integer labels keep their values, names are sorted, a byte-order mark is not part of the header', () => {
  const path = join(dir, 'bom.tsv');
  writeFileSync(path, '\uFEFFsentence\tlabel\na\t2\nb\t0\n');
  const records = readTsv(path);
  assert.deepEqual(Object.keys(records[0]!.value), ['sentence', 'label']);
  assert.deepEqual(labelSpaceOf(records, 'label', false).names, ['0', '1', '2']);
  const named = [{ where: 'x', value: { label: 'spam' } }, { where: 'y', value: { label: 'ham' } }];
  assert.deepEqual(labelSpaceOf(named, 'label', false).names, ['ham', 'spam']);
});

test('GIFT on the encoder (a group per input size) and its head: gradients of the classification loss equal finite differences', () => {
  const config = { ...USE_LITE_DEFAULTS, vocabSize: 40, embeddingSize: 8, hiddenSize: 12, numHeads: 2, intermediateSize: 16, maxPositions: 16 };
  const rng = new Random(5);
  const model = new UseLiteForSequenceClassification(config, 3, rng);
  const adapter = attachAdapter(model, { method: 'gift', rank: 2, target_modules: ['query', 'value'], modules_to_save: ['classifier'] }, 1);
  const names = adapter.namedTrainable().map(([n]) => n);
  assert.deepEqual(names.filter((n) => n.startsWith('gift.')).sort(), [
    'gift.query_in12.phi', 'gift.query_in12.psi', 'gift.query_in8.phi', 'gift.query_in8.psi', 'gift.value_in12.phi', 'gift.value_in12.psi', 'gift.value_in8.phi', 'gift.value_in8.psi',
  ]);
  // psi starts at zero; move it off zero so that every path carries a gradient.
  const params = adapter.namedTrainable().map(([, t]) => t);
  for (const t of params) if (t.data.every((v) => v === 0)) t.assign(Tensor.randn(t.shape, rng, 0.5).data);
  const batch = collateSeqCls([{ ids: [3, 7, 1, 9, 2], label: 2 }, { ids: [5, 5, 8], label: 0 }, { ids: [11], label: 1 }]);
  const space = { kind: 'classification' as const, names: ['a', 'b', 'c'] };
  assertGradcheck(() => sequenceClassificationLoss(model.logits(batch), batch.labels, space), params, 'GIFT + head on UseLite', { eps: 1e-2, atol: 2e-3, rtol: 2e-2 });
});

test('a RoBERTa-shaped model on GLUE RTE sentence pairs, end to end (train with a new 2-label head, then eval)', { skip: needsShared('data/glue/RTE/dev.tsv') }, () => {
  const lines = readFileSync(join(SHARED_DIR, 'data/glue/RTE/dev.tsv'), 'utf8').split('\n');
  writeFileSync(join(dir, 'rte.tsv'), `${lines.slice(0, 65).join('\n')}\n`);
  const model = join(ROOT, 'test/fixtures/encoders/roberta');
  const out = join(dir, 'rte-run');
  const t = gift('train', '--task', 'seqcls', '--model', model, '--data', join(dir, 'rte.tsv'), '--eval-data', join(dir, 'rte.tsv'), '--out', out,
    '--method', 'lora', '--rank', '2', '--max-steps', '2', '--batch-size', '16', '--max-length', '18', '--json');
  assert.equal(t.code, 0, t.err);
  assert.match(t.err, /head: new, 2 output\(s\)/);
  assert.match(t.err, /train: 64 records \(sentence1 \+ sentence2 -> label\)/);
  const trained = JSON.parse(t.out.trim().split('\n').pop()!);
  const e = gift('eval', '--task', 'seqcls', '--model', model, '--adapter', join(out, 'adapter'), '--data', join(dir, 'rte.tsv'), '--json');
  assert.equal(e.code, 0, e.err);
  assert.equal(JSON.parse(e.out.trim().split('\n').pop()!).accuracy, trained.validation.accuracy);
});

test('a sequence classifier\'s length defaults to the encoder\'s positions where it has fewer than 128, and a --max-length past them is refused before training', () => {
  // The RoBERTa fixture: max_position_embeddings 20, padding_idx 1, so 18 positions for tokens.
  const model = join(ROOT, 'test/fixtures/encoders/roberta');
  const long = Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ');
  assert.ok(Tokenizer.fromFolder(model).encode(long).length > 18, 'the texts are longer than the positions');
  writeTsv(join(dir, 'long.tsv'), Array.from({ length: 8 }, (_, i) => ({ text: `${long} ${i}`, label: i % 2 ? 'pos' : 'neg' })));
  const train = (out: string, ...extra: string[]) => gift('train', '--task', 'seqcls', '--model', model, '--data', join(dir, 'long.tsv'), '--out', join(dir, out),
    '--method', 'gift', '--rank', '2', '--max-steps', '1', '--batch-size', '8', '--json', ...extra);
  // (It had stopped at the first batch: "position 20 is past max_position_embeddings 20 (use a shorter --max-length)".)
  const t = train('long-default');
  assert.equal(t.code, 0, t.err);
  assert.match(t.err, /train: 8 records \(text -> label\); 8 cut to 18 tokens/);
  assert.equal(JSON.parse(readFileSync(join(dir, 'long-default', 'adapter', 'adapter_config.json'), 'utf8')).task.max_length, 18);
  const past = train('long-past', '--max-length', '19');
  assert.equal(past.code, 1);
  assert.match(past.err, /maxLength \(--max-length\) 19 is past the 18 tokens .*roberta reads \(its position embeddings\); give at most 18/);
  assert.doesNotMatch(past.err, /step 1/);
  assert.equal(train('long-18', '--max-length', '18').code, 0);
});

test('USE Lite pair head: logits are the head over [u, v, (u-v)^2, u*v] of each text embedded alone (unit RMS), and its gradients are right', () => {
  const config = { ...USE_LITE_DEFAULTS, vocabSize: 40, embeddingSize: 8, hiddenSize: 12, numHeads: 2, intermediateSize: 16, maxPositions: 16 };
  const model = new UseLiteForSequenceClassification(config, 1, new Random(6), true);
  const pairs = [[[3, 7, 1], [9, 2]], [[5], [5, 8, 11, 4]]] as const;
  const batch = collateSeqCls(pairs.map(([a, b]) => ({ ids: [...a, ...b], typeIds: [...a.map(() => 0), ...b.map(() => 1)], label: 0.5 })));
  const logits = model.logits(batch);
  // embed() gives unit-length vectors; the head reads them at unit RMS: times sqrt(H).
  const alone = (ids: readonly number[]) => model.embed(collateSeqCls([{ ids: [...ids], label: 0 }])).map((x) => x * Math.sqrt(12));
  const W = model.classifier.weight.data;
  pairs.forEach(([a, b], r) => {
    const u = alone(a);
    const v = alone(b);
    const features = [...u, ...v, ...u.map((x, i) => (x - v[i]!) ** 2), ...u.map((x, i) => x * v[i]!)];
    const expected = features.reduce((s, f, i) => s + f * W[i]!, model.classifier.bias!.data[0]!);
    assertClose([logits.data[r]!], [expected], `pair ${r}`, 1e-5, 1e-4);
  });
  const adapter = attachAdapter(model, { method: 'gift', rank: 2, target_modules: ['query', 'value'], modules_to_save: ['classifier'] }, 1);
  const params = adapter.namedTrainable().map(([, t]) => t);
  for (const t of params) if (t.data.every((v) => v === 0)) t.assign(Tensor.randn(t.shape, new Random(8), 0.5).data);
  const space = { kind: 'regression' as const, names: ['score'] };
  assertGradcheck(() => sequenceClassificationLoss(model.logits(batch), [0.5, 3], space), params, 'pair head', { eps: 1e-2, atol: 2e-3, rtol: 2e-2 });
});

test('USE Lite on sentence pairs: train with the pair head, merge, and the merged folder gives the adapter\'s predictions', () => {
  const model = join(dir, 'use-lite');
  const rows = [['A man plays a guitar.', 'A person plays music.', '3.8'], ['A cat sleeps.', 'The stock market fell.', '0.2'], ['Two dogs run.', 'Dogs are running.', '4.5'],
    ['A woman cooks.', 'Someone is cooking food.', '4.1'], ['The sky is blue.', 'A boy eats an apple.', '0.0'], ['He reads a book.', 'A man is reading.', '4.0']];
  writeFileSync(join(dir, 'pairs.tsv'), `sentence1\tsentence2\tscore\n${rows.map((r) => r.join('\t')).join('\n')}\n`);
  const out = join(dir, 'pairs-run');
  const t = gift('train', '--task', 'seqcls', '--model', model, '--data', join(dir, 'pairs.tsv'), '--out', out, '--regression', '--method', 'gift', '--rank', '2', '--max-steps', '2', '--batch-size', '3', '--lr', '1e-3');
  assert.equal(t.code, 0, t.err);
  assert.match(t.err, /pairs: each text encoded alone/);
  const config = JSON.parse(readFileSync(join(out, 'adapter/adapter_config.json'), 'utf8'));
  assert.equal(config.task.pair_head, true);
  const e = gift('eval', '--task', 'seqcls', '--model', model, '--adapter', join(out, 'adapter'), '--data', join(dir, 'pairs.tsv'), '--json');
  assert.equal(e.code, 0, e.err);
  const m = gift('merge', '--model', model, '--adapter', join(out, 'adapter'), '--out', join(dir, 'pairs-merged'));
  assert.equal(m.code, 0, m.err);
  // Loading the merged folder must rebuild the pair head from its config.json and reproduce the adapter's loss.
  const merged = loadSequenceClassifier(join(dir, 'pairs-merged'), 1);
  const tok = Tokenizer.fromFolder(join(dir, 'pairs-merged'));
  const batch = collateSeqCls(rows.map((r) => {
    const enc = tok.encodeForClassification([r[0]!, r[1]!], 128);
    return { ids: enc.ids, typeIds: enc.typeIds, label: Number(r[2]) };
  }));
  const mergedMse = sequenceClassificationLoss(merged.logits(batch), batch.labels, { kind: 'regression', names: ['score'] }).item() / rows.length;
  assert.ok(Math.abs(mergedMse - JSON.parse(e.out.trim().split('\n').pop()!).loss) < 1e-4, `merged loss ${mergedMse}`);
});

// Universal Sentence Encoder Lite rebuilt in giftjs against the original: the npm package's
// TensorFlow.js graph run by TensorFlow.js itself (@tensorflow/tfjs-converter on the CPU backend,
// a dev dependency used only here) on real sentences, batched with padding.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { spamAssassinRecords } from '../../src/data/corpora.js';
import { collateSeqCls } from '../../src/data/seqcls.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { convertUseLite, defaultUseLiteSource } from '../../src/models/use_lite/convert.js';
import { UseLiteModel } from '../../src/models/use_lite/model.js';
import { assertClose } from '../helpers.js';

const DIST = defaultUseLiteSource();
const dir = mkdtempSync(join(tmpdir(), 'giftjs-use-'));
const MODEL = join(dir, 'use-lite');
convertUseLite(DIST, MODEL);

async function originalGraph(): Promise<tf.InferenceModel> {
  await tf.setBackend('cpu');
  const json = JSON.parse(readFileSync(join(DIST, 'model.json'), 'utf8'));
  const group = json.weightsManifest[0];
  const bytes = Buffer.concat(group.paths.map((p: string) => readFileSync(join(DIST, p))));
  return loadGraphModel({
    load: async () => ({ modelTopology: json.modelTopology, weightSpecs: group.weights, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) }),
  });
}

/** The graph's embeddings for token-id lists, fed as its sparse (indices, values) input. */
async function graphEmbeddings(graph: tf.InferenceModel, idLists: number[][]): Promise<Float32Array> {
  const indices: number[][] = [];
  const values: number[] = [];
  idLists.forEach((ids, b) => ids.forEach((id, t) => (indices.push([b, t]), values.push(id))));
  const out = (await (graph as unknown as { executeAsync: (x: Record<string, tf.Tensor>) => Promise<tf.Tensor> }).executeAsync({
    indices: tf.tensor2d(indices, [indices.length, 2], 'int32'),
    values: tf.tensor1d(values, 'int32'),
  })) as tf.Tensor;
  return out.data() as Promise<Float32Array>;
}

const SENTENCES = [
  'Hello world.',
  'How old are you?',
  'The quick brown fox jumps over the lazy dog.',
  'Universal Sentence Encoder Lite maps text to 512 numbers; paraphrases land close together.',
  'a',
  'Zoë bought 3 crêpes in Montréal (for €4.50) :)',
];

test('UniversalSentenceEncoderLite: embeddings equal the TensorFlow.js graph on real sentences and e-mails (batched, padded)', async () => {
  const graph = await originalGraph();
  const tok = Tokenizer.fromFolder(MODEL);
  const model = UseLiteModel.fromPretrained(MODEL);
  // Ten e-mails (the graph runs on TensorFlow.js's plain-JavaScript backend: keep the batch small).
  const subjects = spamAssassinRecords().filter((_, i) => i % 600 === 0).map((r) => String(r.value.text).slice(0, 400));
  const texts = [...SENTENCES, ...subjects];
  const idLists = texts.map((t) => tok.encodeForClassification([t], 72).ids);
  assert.ok(idLists.some((l) => l.length >= 60) && idLists.some((l) => l.length <= 3), 'the batch mixes long and short inputs');
  const expected = await graphEmbeddings(graph, idLists);
  const batch = collateSeqCls(idLists.map((ids) => ({ ids, label: 0 })));
  const actual = model.embed(batch);
  assert.equal(actual.length, texts.length * 512);
  assertClose(actual, expected, 'embeddings', 1e-5, 1e-4);
  // Alone or in a padded batch, a sentence gets the same embedding.
  const alone = model.embed(collateSeqCls([{ ids: idLists[0]!, label: 0 }]));
  assertClose(alone, actual.subarray(0, 512), 'unpadded', 1e-6, 1e-5);
});

test('UniversalSentenceEncoderLite: paraphrases embed closer than unrelated sentences', () => {
  const tok = Tokenizer.fromFolder(MODEL);
  const model = UseLiteModel.fromPretrained(MODEL);
  const texts = ['How old are you?', 'What is your age?', 'The stock market fell sharply today.'];
  const e = model.embed(collateSeqCls(texts.map((t) => ({ ids: tok.encodeForClassification([t], 128).ids, label: 0 }))));
  const cos = (a: number, b: number) => e.subarray(a * 512, a * 512 + 512).reduce((s, v, i) => s + v * e[b * 512 + i]!, 0);
  assert.ok(cos(0, 1) > 0.7, `paraphrase cosine ${cos(0, 1)}`);
  assert.ok(cos(0, 1) > cos(0, 2) + 0.3, `paraphrase ${cos(0, 1)} vs unrelated ${cos(0, 2)}`);
});

test('convert use-lite: a truncated weight shard is refused, naming model.json, and the output folder is not written', () => {
  const broken = join(dir, 'broken-dist');
  mkdirSync(broken);
  for (const f of readdirSync(DIST)) copyFileSync(join(DIST, f), join(broken, f));
  const last = readdirSync(broken).filter((f) => f.startsWith('group1-shard')).sort().pop()!;
  truncateSync(join(broken, last), 1000);
  const out = join(dir, 'never');
  assert.throws(() => convertUseLite(broken, out), /model\.json: the shards end at byte \d+ but '.+' needs bytes/);
  assert.throws(() => readdirSync(out), /ENOENT/);
});

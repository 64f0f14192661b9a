// Memory known before it is spent, for classifiers: gift train on an encoder estimates its step by a
// dry run on the meta backend (the model's own forward and backward over a batch of the run's shape,
// computing nothing, the meta pool's peak taken), checked here against the peak resident memory the
// same run measured (metrics.json), on a BERT and a ViT; past --memory-limit the run is refused before loading, naming
// the smaller batches and lengths that fit, and one of them runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { metaBackend, metaDryRunBackend } from '../../src/backend/meta/index.js';
import { withBackend } from '../../src/backend/index.js';
import { parseBertConfig } from '../../src/models/bert/config.js';
import { BertForSequenceClassification } from '../../src/models/bert/model.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
import { fineTuneClassifier } from '../../src/train/classifier_run.js';
import { ViTForImageClassification } from '../../src/models/vit/model.js';
import sharp from 'sharp';
import { Random } from '../../src/tensor/random.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURE = join(ROOT, 'test/fixtures/encoders/bert');
const dir = mkdtempSync(join(tmpdir(), 'giftjs-clsmem-'));

function gift(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, err: r.stderr, out: r.stdout };
}

/** A gift command run in a process that reports its peak resident memory (bytes) as it exits. */
function giftMeasured(...args: string[]) {
  const hook = 'data:text/javascript,process.on("exit",()=>process.stderr.write("\\npeak-rss "+process.resourceUsage().maxRSS*1024+"\\n"))';
  const r = spawnSync(process.execPath, ['--import', hook, join(ROOT, 'bin/gift.js'), ...args], { encoding: 'utf8' });
  return { code: r.status, err: r.stderr, out: r.stdout, peak: Number(/peak-rss (\d+)/.exec(r.stderr)?.[1]) };
}

/** A BERT of the fixture's vocabulary and tokenizer, wide and deep enough that a step's activations outweigh the runtime. */
function syntheticBert(): string {
  const model = join(dir, 'bert');
  mkdirSync(model);
  const raw = { ...JSON.parse(readFileSync(join(FIXTURE, 'config.json'), 'utf8')), hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024, max_position_embeddings: 512 };
  writeFileSync(join(model, 'config.json'), JSON.stringify(raw));
  for (const f of readdirSync(FIXTURE).filter((f) => f.startsWith('tokenizer'))) copyFileSync(join(FIXTURE, f), join(model, f));
  const m = new BertForSequenceClassification(parseBertConfig(raw, 'synthetic'), 3, new Random(1));
  saveSafetensors(join(model, 'model.safetensors'), Object.fromEntries(m.namedParameters()), { format: 'pt' });
  return model;
}

const model = syntheticBert();
const data = join(dir, 'texts.jsonl');
writeFileSync(data, Array.from({ length: 32 }, (_, i) => JSON.stringify({ text: Array.from({ length: 150 }, (_, j) => ['a', 'b', 'c', 'the', 'hello'][(i + j) % 5]).join(' '), label: i % 2 ? 'pos' : 'neg' })).join('\n') + '\n');

test('the dry run computes nothing and leaves the meta backend as it was (it still refuses to compute)', () => {
  assert.notEqual(metaDryRunBackend, metaBackend);
  assert.equal(metaDryRunBackend.memory, metaBackend.memory);
  assert.equal(metaDryRunBackend.sumOfSquares(null as never, 4), 0);
  const m = withBackend(metaBackend, () => new BertForSequenceClassification(parseBertConfig(JSON.parse(readFileSync(join(FIXTURE, 'config.json'), 'utf8')), 'x'), 2));
  assert.throws(() => withBackend(metaBackend, () => m.logits({ ids: Int32Array.of(1, 2), attentionMask: Float32Array.of(1, 1), batch: 1, seq: 2 })), /the meta backend holds shapes only: \w+ cannot run on it/);
});

test("gift train on an encoder: the step's memory, from a dry run, is within 15% of the run's measured peak RSS", () => {
  const out = join(dir, 'run');
  const r = gift('train', '--model', model, '--data', data, '--out', out, '--max-steps', '2', '--batch-size', '32', '--rank', '4', '--json');
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /memory: about \d+ MB \(.*the weights, activations and gradients of one step of 32 x 128 tokens \(a dry run of the step\): \d+ MB/);
  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { memory_estimate_mb: number; peak_rss_mb: number };
  const ratio = m.memory_estimate_mb / m.peak_rss_mb;
  assert.ok(ratio > 0.85 && ratio < 1.15, `estimate ${m.memory_estimate_mb} MB against a measured peak of ${m.peak_rss_mb} MB (${ratio.toFixed(2)})`);
});

test("gift train --task imgcls: a ViT step's memory, from a dry run, is within 15% of the run's measured peak RSS", async () => {
  const vit = join(dir, 'vit');
  mkdirSync(vit);
  writeFileSync(join(vit, 'config.json'), JSON.stringify({
    architectures: ['ViTForImageClassification'], model_type: 'vit', hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024,
    image_size: 64, patch_size: 8, num_channels: 3, num_labels: 2, layer_norm_eps: 1e-12, hidden_act: 'gelu', id2label: { 0: 'a', 1: 'b' }, label2id: { a: 0, b: 1 },
  }));
  const m = new ViTForImageClassification({ hiddenSize: 256, numLayers: 4, numHeads: 4, intermediateSize: 1024, imageSize: 64, patchSize: 8, numChannels: 3, numLabels: 2, layerNormEps: 1e-12 }, new Random(1));
  saveSafetensors(join(vit, 'model.safetensors'), Object.fromEntries(m.namedParameters()), { format: 'pt' });
  for (const cls of ['a', 'b']) {
    mkdirSync(join(dir, 'images', cls), { recursive: true });
    for (let i = 0; i < 32; i++) await sharp(Buffer.alloc(64 * 64 * 3, cls === 'a' ? 30 + i : 200 - i), { raw: { width: 64, height: 64, channels: 3 } }).png().toFile(join(dir, 'images', cls, `${i}.png`));
  }
  const out = join(dir, 'vit-run');
  const r = gift('train', '--task', 'imgcls', '--model', vit, '--data', join(dir, 'images'), '--out', out, '--max-steps', '2', '--batch-size', '32', '--rank', '4', '--json');
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /memory: about \d+ MB \(.*the weights, activations and gradients of one step of 32 images \(a dry run of the step\)/);
  const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { memory_estimate_mb: number; peak_rss_mb: number };
  const ratio = metrics.memory_estimate_mb / metrics.peak_rss_mb;
  assert.ok(ratio > 0.85 && ratio < 1.15, `estimate ${metrics.memory_estimate_mb} MB against a measured peak of ${metrics.peak_rss_mb} MB (${ratio.toFixed(2)})`);
  // gift eval --task imgcls estimates its forward the same way (64 images at once by default), never under the measured peak.
  const scored = giftMeasured('eval', '--task', 'imgcls', '--model', vit, '--adapter', join(out, 'adapter'), '--data', join(dir, 'images'));
  assert.equal(scored.code, 0, scored.err);
  const e = /memory: about (\d+) MB \(.*the weights and activations of scoring 64 images at once \(a dry run of the forward\): (\d+) MB/.exec(scored.err);
  assert.ok(e, scored.err);
  assert.ok(Number(e[1]) * 1e6 >= scored.peak && Number(e[1]) * 1e6 < 1.5 * scored.peak, `estimate ${e[1]} MB against a measured peak of ${Math.round(scored.peak / 1e6)} MB`);
  const limit = `${Math.round(Number(e[1]) - Number(e[2]) / 2)}M`;
  const refused = gift('eval', '--task', 'imgcls', '--model', vit, '--adapter', join(out, 'adapter'), '--data', join(dir, 'images'), '--memory-limit', limit);
  assert.equal(refused.code, 1, refused.err);
  assert.match(refused.err, /gift eval needs about \d+ MB .*; nothing was loaded\. these would fit: --batch-size \d+ \(about \d+ MB\)/);
});

test('past --memory-limit an encoder run is refused before loading, naming the batches and lengths that fit; one of them runs', () => {
  const r = gift('train', '--model', model, '--data', data, '--out', join(dir, 'tight'), '--max-steps', '1', '--batch-size', '32', '--rank', '4', '--memory-limit', '250M');
  assert.equal(r.code, 1);
  const m = /gift train needs about \d+ MB \(.*\), and this process may use 262 MB \(--memory-limit\); nothing was loaded\. these would fit: (--batch-size (\d+)) \(about (\d+) MB\).*--max-length \d+ \(about \d+ MB\)\. --memory-limit sets the budget by hand/.exec(r.err);
  assert.ok(m, r.err);
  assert.ok(Number(m[3]) <= 262);
  const fits = gift('train', '--model', model, '--data', data, '--out', join(dir, 'fits'), '--max-steps', '1', '--batch-size', m[2]!, '--rank', '4', '--memory-limit', '250M', '--json');
  assert.equal(fits.code, 0, fits.err);
  assert.ok(JSON.parse(readFileSync(join(dir, 'fits', 'metrics.json'), 'utf8')).peak_rss_mb <= 262);
});

test('fineTuneClassifier names its own options when the memory is short', async () => {
  const records = Array.from({ length: 4 }, (_, i) => ({ where: `r${i}`, value: { text: 'a b c the hello', label: i % 2 ? 'pos' : 'neg' } }));
  await assert.rejects(fineTuneClassifier({ modelDir: model, train: records, method: { method: 'gift', rank: 4, target_modules: ['query', 'value'] }, options: { batchSize: 4 } as never, memory: { bytes: 1e6, source: 'a test' } }),
    /fineTuneClassifier needs about \d+ MB .*, and this process may use 1 MB \(a test\); nothing was loaded\. no smaller batch or length fits; use a machine with more memory or a smaller model\. memory \(--memory-limit\) sets the budget by hand/);
});

test('gift eval --task seqcls estimates its forward before loading (never under the measured peak), and past --memory-limit names the --batch-size that fits', () => {
  const adapter = join(dir, 'eval-run');
  const t = gift('train', '--model', model, '--data', data, '--out', adapter, '--max-steps', '1', '--batch-size', '8', '--rank', '4');
  assert.equal(t.code, 0, t.err);
  const scored = giftMeasured('eval', '--task', 'seqcls', '--model', model, '--adapter', join(adapter, 'adapter'), '--data', data, '--batch-size', '32');
  assert.equal(scored.code, 0, scored.err);
  const m = /memory: about (\d+) MB \(.*the weights and activations of scoring 32 x 128 tokens at once \(a dry run of the forward\): (\d+) MB.*the adapter's tensors \(its file's size\)/.exec(scored.err);
  assert.ok(m, scored.err);
  const estimate = Number(m[1]) * 1e6;
  assert.ok(scored.peak > 0 && estimate >= scored.peak && estimate < 1.5 * scored.peak, `estimate ${m[1]} MB against a measured peak of ${Math.round(scored.peak / 1e6)} MB`);
  // A budget under the estimate (a batch of 32 texts of 128 tokens) but over the weights.
  const limit = `${Math.round((Number(m[1]) - Number(m[2]) / 2))}M`;
  const refused = gift('eval', '--task', 'seqcls', '--model', model, '--adapter', join(adapter, 'adapter'), '--data', data, '--batch-size', '32', '--memory-limit', limit);
  assert.equal(refused.code, 1, refused.err);
  const fit = /gift eval needs about \d+ MB .*; nothing was loaded\. these would fit: --batch-size (\d+) \(about \d+ MB\)/.exec(refused.err);
  assert.ok(fit, refused.err);
  assert.doesNotMatch(refused.err, /--max-length/, 'an evaluation reads at its classifier\'s length');
  const fits = giftMeasured('eval', '--task', 'seqcls', '--model', model, '--adapter', join(adapter, 'adapter'), '--data', data, '--batch-size', fit[1]!, '--memory-limit', limit);
  assert.equal(fits.code, 0, fits.err);
  assert.ok(fits.peak <= Number(limit.slice(0, -1)) * 1048576, `peak ${fits.peak} within ${limit}`);
});

test('a --batch-size past the data is estimated as the largest batch the sets make (it had been dry-run as given, its token ids made on the host)', () => {
  const r = gift('train', '--model', model, '--data', data, '--out', join(dir, 'huge-batch'), '--max-steps', '1', '--batch-size', '100000000', '--rank', '4');
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /memory: about \d+ MB \(.*one step of 32 x 128 tokens \(a dry run of the step\)/);
});

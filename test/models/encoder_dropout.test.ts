// BERT's, RoBERTa's and ViT's training dropouts sit where transformers' do, and scale as they do: both sides run
// a training-mode step with every dropout's mask made the same fixed pattern (value i of each dropped
// tensor zeroed where (i mod 8) / 8 < p), transformers in the peer venv (tools/encoder_dropout_reference.py,
// eager attention), giftjs through generators that draw that pattern. The logits, the loss and every
// parameter's gradient must agree. (Before, giftjs trained encoders without any dropout, whatever the
// config's hidden_dropout_prob and attention_probs_dropout_prob said.) The sizes keep every dropped
// tensor a multiple of 8 values, so each mask starts the pattern afresh on both sides.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Dropout } from '../../src/nn/layers.js';
import { loadImageClassifier, loadSequenceClassifier } from '../../src/models/registry.js';
import { imagesToPatches, readViTConfig } from '../../src/models/vit/model.js';
import { parseBertConfig } from '../../src/models/bert/config.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { Random } from '../../src/tensor/random.js';
import { assertClose, fixtureCopy } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PYTHON = process.env.GIFTJS_PEER_PYTHON ?? join(homedir(), '.cache', 'giftjs-peer', 'bin', 'python');
const hasTransformers = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import transformers'], { encoding: 'utf8' }).status === 0;

/** A generator whose uniform draws run 0, 1/8, ..., 7/8 and round again: the reference's pattern. */
class PatternRandom extends Random {
  private i = 0;
  override uniform(): number {
    return (this.i++ % 8) / 8;
  }
}

const BATCH = 2;
const SEQ = 6;

for (const name of ['bert', 'roberta']) {
  test(`${name}: training-mode logits, loss and gradients with the config's dropouts equal transformers' under the same masks`, {
    skip: hasTransformers ? false : `no python with transformers at ${PYTHON} (set GIFTJS_PEER_PYTHON; ../shared/peer/setup_peer.sh makes it)`,
    timeout: 120_000,
  }, () => {
    // Three different probabilities, so that a dropout applied with another's p shows.
    const { dir, model } = fixtureCopy(`encoders/${name}`, { hidden_dropout_prob: 0.25, attention_probs_dropout_prob: 0.5, classifier_dropout: 0.375 });
    const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as Record<string, unknown>;
    const vocab = config.vocab_size as number;
    const pad = config.pad_token_id as number;
    const r = new Random(4);
    const lengths = [SEQ, 4];
    const mask = lengths.flatMap((n) => Array.from({ length: SEQ }, (_, t) => (t < n ? 1 : 0)));
    const ids = mask.map((m) => (m ? 3 + r.int(vocab - 3) : pad));
    const labels = [2, 0];
    const input = join(dir, 'input.json');
    writeFileSync(input, JSON.stringify({ ids: [ids.slice(0, SEQ), ids.slice(SEQ)], mask: [mask.slice(0, SEQ), mask.slice(SEQ)], labels }));
    const ref = spawnSync(PYTHON, [join(ROOT, 'tools/encoder_dropout_reference.py'), model, input], { encoding: 'utf8' });
    assert.equal(ref.status, 0, ref.stderr.slice(-3000));
    const theirs = JSON.parse(ref.stdout.trim().split('\n').pop()!) as { logits: number[]; loss: number; dropouts: number; grads: Record<string, number[]> };
    // embeddings, 3 in each of 2 layers, and the head's (BERT: 1 on the pooled output; RoBERTa: 2)
    assert.equal(theirs.dropouts, name === 'bert' ? 8 : 9);

    const m = loadSequenceClassifier(model, 3);
    const adapter = attachAdapter(m, { method: 'full' });
    m.train();
    let dropouts = 0;
    for (const [, mod] of m.namedModules()) if (mod instanceof Dropout) dropouts++;
    assert.equal(dropouts, 8, 'Dropout modules: the embeddings\', 3 in each layer, the head\'s (RoBERTa\'s head uses its one twice, as transformers\')');
    for (const [, mod] of m.namedModules()) if (mod instanceof Dropout) mod.rng = new PatternRandom(0);
    const encoderInput = { ids: Int32Array.from(ids), attentionMask: Float32Array.from(mask), batch: BATCH, seq: SEQ };
    const logits = m.logits(encoderInput);
    const loss = crossEntropy(logits, Int32Array.from(labels));
    assertClose(logits.toFloat32Array(), theirs.logits, `${name}: training-mode logits`, 1e-5, 1e-5);
    assert.ok(Math.abs(loss.item() - theirs.loss) < 1e-5, `${name}: loss ${loss.item()}, transformers' ${theirs.loss}`);
    loss.backward();
    for (const [n, t] of adapter.namedTrainable()) {
      const g = theirs.grads[n];
      if (!g) continue; // transformers' pooler of a RoBERTa is absent, BERT's position ids are no parameter
      assertClose(t.grad!.toFloat32Array(), g, `${name}: gradient of ${n}`, 1e-5, 1e-4);
    }
    assert.ok(Object.keys(theirs.grads).every((n) => adapter.namedTrainable().some(([k]) => k === n)), 'every parameter transformers trains is compared');
    // In evaluation mode nothing is dropped: the dropouts' masks are not drawn at all.
    m.eval();
    for (const [, mod] of m.namedModules()) if (mod instanceof Dropout) mod.rng = new PatternRandom(0);
    const evalLogits = noGrad(() => m.logits(encoderInput).toFloat32Array());
    assert.ok(evalLogits.some((v, i) => Math.abs(v - theirs.logits[i]!) > 1e-3), 'training mode differs from evaluation mode');
  });
}

test('vit: training-mode logits, loss and gradients with the config\'s dropouts equal transformers\' under the same masks', {
  skip: hasTransformers ? false : `no python with transformers at ${PYTHON} (set GIFTJS_PEER_PYTHON; ../shared/peer/setup_peer.sh makes it)`,
  timeout: 120_000,
}, () => {
  const { dir, model } = fixtureCopy('encoders/vit', { hidden_dropout_prob: 0.25, attention_probs_dropout_prob: 0.5 });
  // 4 images of 3 x 8 x 8 in 4 x 4 patches: 5 tokens, so the attention probabilities are 4 x 2 x 5 x 5 = 200 values, a multiple of 8.
  const batch = 4;
  const r = new Random(9);
  const pixels = Float32Array.from({ length: batch * 3 * 64 }, () => r.normal());
  const labels = [0, 2, 1, 2];
  const nested = Array.from({ length: batch }, (_, b) => Array.from({ length: 3 }, (_, c) => Array.from({ length: 8 }, (_, y) => Array.from(pixels.subarray(((b * 3 + c) * 8 + y) * 8, ((b * 3 + c) * 8 + y + 1) * 8)))));
  const input = join(dir, 'input.json');
  writeFileSync(input, JSON.stringify({ pixels: nested, labels }));
  const ref = spawnSync(PYTHON, [join(ROOT, 'tools/encoder_dropout_reference.py'), model, input], { encoding: 'utf8' });
  assert.equal(ref.status, 0, ref.stderr.slice(-3000));
  const theirs = JSON.parse(ref.stdout.trim().split('\n').pop()!) as { logits: number[]; loss: number; dropouts: number; grads: Record<string, number[]> };
  assert.equal(theirs.dropouts, 7, 'the embeddings\', and 3 in each of 2 layers');

  const m = loadImageClassifier(model);
  const adapter = attachAdapter(m, { method: 'full' });
  m.train();
  for (const [, mod] of m.namedModules()) if (mod instanceof Dropout) mod.rng = new PatternRandom(0);
  const logits = m.forward(imagesToPatches(pixels, batch, m.config));
  const loss = crossEntropy(logits, Int32Array.from(labels));
  assertClose(logits.toFloat32Array(), theirs.logits, 'vit: training-mode logits', 1e-5, 1e-5);
  assert.ok(Math.abs(loss.item() - theirs.loss) < 1e-5, `vit: loss ${loss.item()}, transformers' ${theirs.loss}`);
  loss.backward();
  // transformers 5.17 names ViT's modules anew (vit.layers.N.attention.q_proj, ...); the adapter naming maps the linear layers.
  const naming = m.adapterNaming();
  const saved = (n: string) => `${naming.toSaved(n.slice(0, n.lastIndexOf('.')))}${n.slice(n.lastIndexOf('.'))}`.replace(/^vit\.encoder\.layer\./, 'vit.layers.');
  const trained = adapter.namedTrainable();
  for (const [n, t] of trained) assertClose(t.grad!.toFloat32Array(), theirs.grads[saved(n)]!, `vit: gradient of ${n}`, 1e-5, 1e-4);
  assert.equal(trained.length, Object.keys(theirs.grads).length, 'every parameter transformers trains is compared');
});

test('a dropout probability outside [0, 1) or not a number is refused by the file and the key; null and absent take transformers\' defaults', () => {
  const bert = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/encoders/bert/config.json'), 'utf8')) as Record<string, unknown>;
  for (const [key, value] of [['hidden_dropout_prob', 1], ['attention_probs_dropout_prob', -0.1], ['classifier_dropout', '0.1'], ['hidden_dropout_prob', 1e309]] as const) {
    assert.throws(() => parseBertConfig({ ...bert, [key]: value }, 'b/config.json'), new RegExp(`b/config\\.json: '${key}' must be a dropout probability in \\[0, 1\\), got ${JSON.stringify(value)?.replace(/\./g, '\\.')}`));
  }
  const defaults = parseBertConfig({ ...bert, classifier_dropout: null, hidden_dropout_prob: 0.2 }, 'b/config.json');
  assert.deepEqual([defaults.hiddenDropout, defaults.attentionDropout, defaults.classifierDropout], [0.2, 0.1, 0.2], 'classifier_dropout null: the hidden one');
  const { model } = fixtureCopy('encoders/vit', { attention_probs_dropout_prob: 1.5 });
  assert.throws(() => readViTConfig(model), new RegExp(`config\\.json: 'attention_probs_dropout_prob' must be a dropout probability in \\[0, 1\\), got 1\\.5`));
  const vit = readViTConfig(join(ROOT, 'test/fixtures/encoders/vit')).config;
  assert.deepEqual([vit.hiddenDropout, vit.attentionDropout], [0, 0], 'ViT: absent, 0 as ViTConfig\'s defaults');
});

/** A generator whose uniform draws are the given values, in order (a stochastic-depth mask chosen by the test). */
class ListRandom extends Random {
  constructor(private readonly draws: number[]) {
    super(0);
  }
  override uniform(): number {
    const v = this.draws.shift();
    if (v === undefined) throw new Error('ListRandom: more draws than given');
    return v;
  }
}

test('vit: stochastic depth (drop-path) drops whole images\' residual branches at timm\'s rates, as timm\'s DropPath on transformers\' ViT', {
  skip: hasTransformers ? false : `no python with transformers at ${PYTHON} (set GIFTJS_PEER_PYTHON; ../shared/peer/setup_peer.sh makes it)`,
  timeout: 120_000,
}, () => {
  const { dir, model } = fixtureCopy('encoders/vit', {});
  const batch = 4;
  const r = new Random(21);
  const pixels = Float32Array.from({ length: batch * 3 * 64 }, () => r.normal());
  const labels = [1, 0, 2, 1];
  const nested = Array.from({ length: batch }, (_, b) => Array.from({ length: 3 }, (_, c) => Array.from({ length: 8 }, (_, y) => Array.from(pixels.subarray(((b * 3 + c) * 8 + y) * 8, ((b * 3 + c) * 8 + y + 1) * 8)))));
  // 2 layers at rate 0.6: layer 0 never drops (rate 0), layer 1 drops each image's branch with p 0.6.
  const rate = 0.6;
  const attentionDraws = [0.1, 0.9, 0.7, 0.3];
  const mlpDraws = [0.8, 0.2, 0.5, 0.65];
  const kept = (draws: number[]) => draws.map((u) => (u < rate ? 0 : 1));
  const input = join(dir, 'input.json');
  writeFileSync(input, JSON.stringify({ pixels: nested, labels, drop_path: { rate, keep: { 1: [kept(attentionDraws), kept(mlpDraws)] } } }));
  const ref = spawnSync(PYTHON, [join(ROOT, 'tools/encoder_dropout_reference.py'), model, input], { encoding: 'utf8' });
  assert.equal(ref.status, 0, ref.stderr.slice(-3000));
  const theirs = JSON.parse(ref.stdout.trim().split('\n').pop()!) as { logits: number[]; loss: number; grads: Record<string, number[]>; drop_path_rates: number[] };

  const m = loadImageClassifier(model);
  const adapter = attachAdapter(m, { method: 'full' });
  m.setDropPath(rate);
  const rates = m.vit.layers.flatMap((l) => [l.attentionDropPath.p, l.mlpDropPath.p]);
  assertClose(rates, theirs.drop_path_rates.flatMap((p) => [p, p]), 'rates: torch.linspace(0, rate, layers)', 1e-7, 1e-6);
  m.train();
  m.vit.layers[0]!.attentionDropPath.rng = new ListRandom([]);
  m.vit.layers[0]!.mlpDropPath.rng = new ListRandom([]);
  m.vit.layers[1]!.attentionDropPath.rng = new ListRandom([...attentionDraws]);
  m.vit.layers[1]!.mlpDropPath.rng = new ListRandom([...mlpDraws]);
  const logits = m.forward(imagesToPatches(pixels, batch, m.config));
  const loss = crossEntropy(logits, Int32Array.from(labels));
  assertClose(logits.toFloat32Array(), theirs.logits, 'vit drop-path: training-mode logits', 1e-5, 1e-5);
  assert.ok(Math.abs(loss.item() - theirs.loss) < 1e-5, `vit drop-path: loss ${loss.item()}, transformers' ${theirs.loss}`);
  loss.backward();
  const naming = m.adapterNaming();
  const saved = (n: string) => `${naming.toSaved(n.slice(0, n.lastIndexOf('.')))}${n.slice(n.lastIndexOf('.'))}`.replace(/^vit\.encoder\.layer\./, 'vit.layers.');
  for (const [n, t] of adapter.namedTrainable()) assertClose(t.grad!.toFloat32Array(), theirs.grads[saved(n)]!, `vit drop-path: gradient of ${n}`, 1e-5, 1e-4);
  // Without drop-path the same images give other logits (the masks above act), and evaluation mode draws none.
  m.eval();
  const evalLogits = noGrad(() => m.forward(imagesToPatches(pixels, batch, m.config)).toFloat32Array());
  assert.ok(evalLogits.some((v, i) => Math.abs(v - theirs.logits[i]!) > 1e-3), 'the dropped branches change the logits');
  assert.throws(() => m.setDropPath(1), /drop-path rate must be in \[0, 1\), got 1/);
});

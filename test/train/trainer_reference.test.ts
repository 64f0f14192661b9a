// gift train against the trainer its users know: TRL's SFTTrainer (transformers' Trainer underneath,
// in the peer venv, tools/trainer_compare.py) fine-tunes the same model folder on the same
// prompt/completion file from the same starting tensors, with the same settings -- gradient
// accumulation over padded batches of unequal lengths, warmup then linear decay, weight decay,
// clipping (at 0.3, where each run's gradient norm passes it: asserted). Each update covers the whole file (8 records, batch 4 x 2), so neither side's shuffling
// changes what it sums; every update's loss, gradient norm and learning rate, and the trained
// tensors, must agree. This covers what each step is made of (the loss on the completion and the
// end token only, one mean over the window's tokens, the norm before clipping, AdamW, which
// tensors weight decay applies to, the warmup's length) where a unit test checks one piece by
// hand. The prompts end without a space, where giftjs and TRL split prompt from completion alike.
// The other causal families (Gemma, Gemma 2 and 3, Phi-2, Phi-3.5, Mistral, Qwen 3) take the same runs; sequence
// classifiers and a regressor (BERT, RoBERTa; GIFT on query,value with the head) and a ViT image classifier
// (GIFT on the attention output with the head) are checked against transformers' Trainer the same way.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import { loadCausalLM, loadImageClassifier, loadModel, loadSequenceClassifier } from '../../src/models/registry.js';
import { withTrainedHead } from '../../src/peft/modules_to_save.js';
import type { ModelKind } from '../../src/models/registry.js';
import { weightDecayApplies } from '../../src/train/weight_decay.js';
import { fixtureCopy } from '../helpers.js';
import { attachAdapter, saveAdapter } from '../../src/peft/adapter_io.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const PYTHON = process.env.GIFTJS_PEER_PYTHON ?? join(homedir(), '.cache', 'giftjs-peer', 'bin', 'python');
const hasTrl = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import trl, peft, datasets'], { encoding: 'utf8' }).status === 0;

const RECORDS = [
  ['the cat sat on the', ' mat'], ['what is red and round?', ' an apple'], ['one, two, three,', ' four, five'], ['say hello.', ' hello there'],
  ['the sun is', ' hot and bright'], ['a dog can', ' run and bark'], ['water is', ' wet'], ['name a colour.', ' blue, or green, or a dark red'],
].map(([prompt, completion]) => ({ prompt, completion }));

const SETTINGS = { batch_size: 4, grad_accum: 2, epochs: 6, lr: 2e-2, warmup_ratio: 0.2, weight_decay: 0.1, max_grad_norm: 0.3, scheduler: 'linear', seed: 11 };

interface StepLog { loss: number; grad_norm: number; lr: number }

function giftTrain(model: string, data: string, out: string, method: string[]): StepLog[] {
  const r = spawnSync(process.execPath, [GIFT, 'train', '--model', model, '--data', data, '--out', out,
    '--batch-size', String(SETTINGS.batch_size), '--grad-accum', String(SETTINGS.grad_accum), '--epochs', String(SETTINGS.epochs), '--lr', String(SETTINGS.lr),
    '--warmup-ratio', String(SETTINGS.warmup_ratio), '--weight-decay', String(SETTINGS.weight_decay), '--max-grad-norm', String(SETTINGS.max_grad_norm),
    '--scheduler', SETTINGS.scheduler, '--seed', String(SETTINGS.seed), ...method], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepLog);
}

function reference(settings: Record<string, unknown>, out: string): { logs: { loss: number; grad_norm: number; learning_rate: number }[]; trained: Map<string, Float32Array> } {
  mkdirSync(out, { recursive: true });
  const file = join(out, 'settings.json');
  writeFileSync(file, JSON.stringify({ ...SETTINGS, ...settings, out }));
  const r = spawnSync(PYTHON, [join(ROOT, 'tools/trainer_compare.py'), file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  return { logs: JSON.parse(readFileSync(join(out, 'logs.json'), 'utf8')), trained: tensors(join(out, 'trained.safetensors')) };
}

function tensors(path: string): Map<string, Float32Array> {
  const f = SafetensorsFile.open(path);
  try {
    return new Map([...f.tensors.keys()].map((n) => {
      const t = f.readTensor(n);
      const values = Float32Array.from(t.data);
      t.dispose();
      return [n, values];
    }));
  } finally {
    f.close();
  }
}

/** A copy of the fixture folder (its config.json changed by `configEdit`) and the records as train.jsonl. */
function scratch(fixture: string, configEdit: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-trainer-ref-'));
  const model = join(dir, 'model');
  cpSync(join(ROOT, 'test/fixtures', fixture), model, { recursive: true });
  // (Rewritten only when edited: JSON.stringify writes 3.0 as 3, which transformers' strict configs refuse for a float field.)
  const configPath = join(model, 'config.json');
  if (Object.keys(configEdit).length > 0) writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>, ...configEdit }, null, 2));
  const data = join(dir, 'train.jsonl');
  writeFileSync(data, RECORDS.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return { dir, model, data };
}

function closeTo(ours: number[], theirs: number[], tolerance: number, what: string): void {
  assert.equal(ours.length, theirs.length, `${what}: ${ours.length} values, the reference has ${theirs.length}`);
  ours.forEach((v, i) => assert.ok(Math.abs(v - theirs[i]!) <= tolerance * (1 + Math.abs(theirs[i]!)), `${what} [${i}]: ${v}, the reference ${theirs[i]}`));
}

/** Every update's learning rate, loss and gradient norm as the reference logged them; clipping acted in some. */
function sameUpdates(ours: StepLog[], theirs: { loss: number; grad_norm: number; learning_rate: number }[]): void {
  assert.ok(ours.some((l) => l.grad_norm > SETTINGS.max_grad_norm), 'clipping acted');
  closeTo(ours.map((l) => l.lr), theirs.map((l) => l.learning_rate), 1e-9, 'learning rate');
  closeTo(ours.map((l) => l.loss), theirs.map((l) => l.loss), 2e-6, 'loss');
  closeTo(ours.map((l) => l.grad_norm), theirs.map((l) => l.grad_norm), 2e-5, 'gradient norm');
}

// tensorTolerance: AdamW divides each update by the root of the gradient's running square, so an entry
// whose gradients are all near 0 moves by a share of the learning rate that float32's summation order
// changes; full fine-tuning trains 27k entries and some have such gradients (the largest difference,
// 6e-5, is one entry of an MLP matrix). Decaying the norm weights would move them by ~6e-3.
interface Case {
  method: string; flags: string[]; init?: Record<string, unknown>; tensorTolerance: number; settings?: Record<string, unknown>; label?: string; fixture?: string;
  /** Changes to the fixture's config.json (Phi-2's residual dropout off: the two sides' masks cannot agree). */
  configEdit?: Record<string, unknown>;
}
const loraOn = (targets: string[]): Pick<Case, 'method' | 'flags' | 'init'> => ({ method: 'lora', flags: ['--method', 'lora', '--rank', '4', '--alpha', '8', '--targets', targets.join(','), '--dropout', '0'],
  init: { method: 'lora', rank: 4, alpha: 8, target_modules: targets, lora_dropout: 0 } });
const CASES: Case[] = [
  { method: 'lora', flags: ['--method', 'lora', '--rank', '4', '--alpha', '8', '--targets', 'q_proj,v_proj', '--dropout', '0'],
    init: { method: 'lora', rank: 4, alpha: 8, target_modules: ['q_proj', 'v_proj'], lora_dropout: 0 }, tensorTolerance: 2e-5 },
  { method: 'gift', flags: ['--method', 'gift', '--rank', '4', '--targets', 'q_proj,v_proj'], init: { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'] }, tensorTolerance: 2e-5 },
  // DoRA (PEFT's use_dora): the magnitudes train, and decay, beside A and B; PEFT reads giftjs's starting adapter.
  { method: 'lora', flags: ['--method', 'lora', '--rank', '4', '--alpha', '8', '--targets', 'q_proj,v_proj', '--dropout', '0', '--use-dora'],
    init: { method: 'lora', rank: 4, alpha: 8, target_modules: ['q_proj', 'v_proj'], lora_dropout: 0, use_dora: true }, tensorTolerance: 2e-5, label: 'lora --use-dora' },
  // Packed (every record in one row, attention and positions restarting at each): the unpacked updates.
  { method: 'lora', flags: ['--method', 'lora', '--rank', '4', '--alpha', '8', '--targets', 'q_proj,v_proj', '--dropout', '0', '--pack'],
    init: { method: 'lora', rank: 4, alpha: 8, target_modules: ['q_proj', 'v_proj'], lora_dropout: 0 }, tensorTolerance: 2e-5, label: 'lora --pack' },
  // The paper's ViT schedule, half a cosine to a floor (transformers' cosine_with_min_lr).
  { method: 'gift', flags: ['--method', 'gift', '--rank', '4', '--targets', 'q_proj,v_proj', '--scheduler', 'cosine_with_min_lr', '--min-lr', '2e-3'],
    init: { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'] }, tensorTolerance: 2e-5, settings: { scheduler: 'cosine_with_min_lr', min_lr: 2e-3 } },
  // Every tensor trained: the norm weights take no weight decay, the rest do.
  { method: 'full', flags: ['--method', 'full'], tensorTolerance: 1e-4 },
  // The other families, through the same trainer: Gemma 2's softcapped attention scores and logits and its
  // windows of 4 (the records are longer), Gemma 3's query/key norms and windows, Phi-3's fused qkv_proj,
  // Mistral's and Qwen 3's sliding windows (eager attention in the reference: the formulas themselves).
  { ...loraOn(['q_proj', 'v_proj', 'down_proj']), tensorTolerance: 2e-5, fixture: 'gemma/gemma2', label: 'lora on Gemma 2' },
  { method: 'gift', flags: ['--method', 'gift', '--rank', '4', '--targets', 'q_proj,o_proj'], init: { method: 'gift', rank: 4, target_modules: ['q_proj', 'o_proj'] },
    tensorTolerance: 2e-5, fixture: 'gemma/gemma3', label: 'gift on Gemma 3' },
  { ...loraOn(['qkv_proj', 'gate_up_proj']), tensorTolerance: 2e-5, fixture: 'phi_longrope/phi35', label: 'lora on Phi-3.5' },
  // One entry of Mistral's layer-1 v_proj lora_A had a gradient of 2.1e-8 in its first nonzero update (the
  // tensor's median 3.0e-4): AdamW moves it by g / (|g| + eps), which float32's rounding of so cancelled a
  // sum changes (7.7e-5 apart; every other entry within 2.3e-6).
  { ...loraOn(['q_proj', 'k_proj', 'v_proj']), tensorTolerance: 1e-4, fixture: 'sliding_window/mistral', label: 'lora on Mistral' },
  // (Not the Qwen 2 fixture: transformers 5 reads a qwen2 folder's tokenizer as Qwen2Tokenizer whatever its
  // tokenizer_config says, and the fixture's is a Llama one.)
  { ...loraOn(['q_proj', 'v_proj']), tensorTolerance: 2e-5, fixture: 'sliding_window/qwen3', label: 'lora on Qwen 3' },
  // Gemma's two norms a block and erf GELU; Phi-2's LayerNorms, side-by-side attention and MLP, biased head.
  { ...loraOn(['q_proj', 'v_proj', 'down_proj']), tensorTolerance: 2e-5, fixture: 'gemma/gemma1', label: 'lora on Gemma' },
  { method: 'gift', flags: ['--method', 'gift', '--rank', '4', '--targets', 'q_proj,fc1'], init: { method: 'gift', rank: 4, target_modules: ['q_proj', 'fc1'] },
    tensorTolerance: 2e-5, fixture: 'phi/phi2', label: 'gift on Phi-2', configEdit: { resid_pdrop: 0 } },
];

for (const c of CASES) {
  test(`gift train --method ${c.label ?? c.method}${c.settings ? ` --scheduler ${String(c.settings.scheduler)}` : ''} makes the updates TRL's SFTTrainer makes: each update's loss, gradient norm and learning rate, and the trained tensors`, {
    skip: hasTrl ? false : `no python with trl at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run installs it into the peer venv)`,
    timeout: 300_000,
  }, () => {
    const s = scratch(c.fixture ?? 'llama/llama-gqa', c.configEdit);
    let init: string | undefined;
    if (c.init) {
      // The starting adapter, drawn as gift train draws it from the same seed, for the reference to start from.
      const model = loadCausalLM(s.model);
      init = join(s.dir, 'init');
      saveAdapter(init, attachAdapter(model, c.init, SETTINGS.seed), { path: s.model, architecture: model.config.architecture, naming: model.adapterNaming() });
    }
    const ours = giftTrain(s.model, s.data, join(s.dir, 'giftjs'), c.flags);
    const ref = reference({ model: s.model, data: s.data, method: c.method, init, ...c.settings }, join(s.dir, 'reference'));
    assert.equal(ours.length, SETTINGS.epochs, 'one update an epoch');
    sameUpdates(ours, ref.logs);
    const trained = tensors(join(s.dir, 'giftjs/adapter/adapter_model.safetensors'));
    assert.deepEqual([...trained.keys()].sort(), [...ref.trained.keys()].sort(), 'the trained tensors');
    for (const [name, values] of ref.trained) closeTo([...trained.get(name)!], [...values], c.tensorTolerance, name);
  });
}

test('weight decay applies to the tensors transformers\' Trainer decays (get_decay_parameter_names), in every family', {
  skip: hasTrl ? false : `no python with trl at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run installs it into the peer venv)`,
  timeout: 300_000,
}, () => {
  const folders: [string, ModelKind][] = [
    ['llama/llama-gqa', 'causal-lm'], ['llama/qwen2-bias', 'causal-lm'], ['qwen3/qwen3', 'causal-lm'], ['gemma/gemma2', 'causal-lm'], ['gemma/gemma3', 'causal-lm'], ['gemma/gemma1', 'causal-lm'], ['phi/phi2', 'causal-lm'],
    ['phi_longrope/phi35', 'causal-lm'], ['sliding_window/mistral', 'causal-lm'], ['encoders/bert', 'sequence-classifier'], ['encoders/roberta', 'sequence-classifier'],
    ['encoders/vit', 'image-classifier'],
  ];
  const dirs = folders.map(([f]) => join(ROOT, 'test/fixtures', f));
  const r = spawnSync(PYTHON, [join(ROOT, 'tools/trainer_compare.py'), '--decay-names', ...dirs], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const hf = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, { names: string[]; decayed: string[] }>;
  for (const [k, [folder, kind]] of folders.entries()) {
    const model = loadModel(dirs[k]!, kind, kind === 'sequence-classifier' ? { numLabels: 2 } : {});
    const applies = weightDecayApplies(model);
    // ViT's modules are named as transformers 4 named them; transformers 5.17 names them anew (its adapter
    // naming renames the linear layers; the layer norms move from encoder.layer.N to layers.N).
    const naming = model.adapterNaming();
    const saved = (n: string) => {
      const [path, leaf] = [n.slice(0, n.lastIndexOf('.')), n.slice(n.lastIndexOf('.'))];
      return `${naming?.toSaved(path) ?? path}${leaf}`.replace(/^vit\.encoder\.layer\./, 'vit.layers.');
    };
    const names = attachAdapter(model, { method: 'full' }).namedTrainable().map(([n]) => n);
    const theirs = hf[dirs[k]!]!;
    assert.deepEqual(names.map(saved).sort(), [...theirs.names].sort(), `${folder}: the trained tensors are the model's parameters`);
    const decayed = new Set(theirs.decayed);
    for (const n of names) assert.equal(applies(n), decayed.has(saved(n)), `${folder}: ${n} ${decayed.has(saved(n)) ? 'takes' : 'takes no'} weight decay in transformers' Trainer`);
    // Every family has tensors of both kinds, so neither answer is given everywhere.
    assert.ok(names.some(applies) && !names.every(applies), `${folder}: some tensors decay and some do not`);
  }
});

// RoBERTa: positions counted from the padding id, a two-layer head (dense, tanh, out_proj), and texts
// longer than its 18 positions (20 less the padding id's offset), truncated alike (BERT's 20 are not reached).
// BitFit: every bias, the layer norms' too, beside the head (no weight decay on any of them in either).
const CLASSIFIERS = [
  { fixture: 'encoders/bert', architecture: 'BertForSequenceClassification', regression: false, maxLength: 20, method: 'gift' },
  { fixture: 'encoders/bert', architecture: 'BertForSequenceClassification', regression: true, maxLength: 20, method: 'gift' },
  { fixture: 'encoders/roberta', architecture: 'RobertaForSequenceClassification', regression: false, maxLength: 18, method: 'gift' },
  { fixture: 'encoders/roberta', architecture: 'RobertaForSequenceClassification', regression: false, maxLength: 18, method: 'bitfit' },
];
for (const { fixture, architecture, regression, maxLength, method: methodName } of CLASSIFIERS) {
  const what = methodName === 'gift' ? 'GIFT on query,value and the head' : 'BitFit: the biases and the head';
  test(`gift train on a ${fixture.split('/')[1]} sequence ${regression ? 'regressor (a new one-output head, mean squared error)' : 'classifier'} (${what}) makes the updates transformers' Trainer makes`, {
    skip: hasTrl ? false : `no python with trl at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run installs it into the peer venv)`,
    timeout: 300_000,
  }, () => {
    // No dropout, so that both sides compute one function (their masks are drawn differently).
    const { dir, model } = fixtureCopy(fixture, { hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 });
    const words = ['good', 'bad', 'fine', 'nice', 'poor', 'ok', 'great', 'awful'];
    const data = join(dir, 'train.jsonl');
    writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: Array.from({ length: 2 + (i % 4) }, (_, k) => words[(i * 3 + k) % 8]).join(' '), label: regression ? (i * 0.7) % 5 : ['neg', 'pos', 'neutral'][i % 3] })).join('\n') + '\n');
    // The whole file in one batch an update: the order neither side shuffles into matters.
    const settings = { ...SETTINGS, batch_size: 8, grad_accum: 1, epochs: 5 };
    const method = methodName === 'gift' ? { method: 'gift', rank: 4, target_modules: ['query', 'value'] } : { method: methodName };
    const m = loadSequenceClassifier(model, regression ? 1 : 3, settings.seed);
    const init = join(dir, 'init');
    saveAdapter(init, attachAdapter(m, withTrainedHead(method), settings.seed), { path: model, architecture, naming: m.adapterNaming() });
    const out = join(dir, 'giftjs');
    const methodFlags = methodName === 'gift' ? ['--method', 'gift', '--rank', '4', '--targets', 'query,value'] : ['--method', methodName];
    const r = spawnSync(process.execPath, [GIFT, 'train', '--model', model, '--data', data, '--out', out, ...methodFlags,
      '--batch-size', '8', '--epochs', String(settings.epochs), '--lr', String(settings.lr), '--warmup-ratio', String(settings.warmup_ratio), '--weight-decay', String(settings.weight_decay),
      '--max-grad-norm', String(settings.max_grad_norm), '--scheduler', settings.scheduler, '--seed', String(settings.seed), '--max-length', String(maxLength), ...(regression ? ['--regression'] : [])], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const ours = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepLog);
    const ref = (() => {
      const refOut = join(dir, 'reference');
      mkdirSync(refOut, { recursive: true });
      const file = join(refOut, 'settings.json');
      writeFileSync(file, JSON.stringify({ ...settings, task: 'seqcls', regression, max_length: maxLength, model, data, method: methodName, init, out: refOut }));
      const p = spawnSync(PYTHON, [join(ROOT, 'tools/trainer_compare.py'), file], { encoding: 'utf8' });
      assert.equal(p.status, 0, p.stderr.slice(-3000));
      return { logs: JSON.parse(readFileSync(join(refOut, 'logs.json'), 'utf8')) as { loss: number; grad_norm: number; learning_rate: number }[], trained: tensors(join(refOut, 'trained.safetensors')) };
    })();
    assert.equal(ours.length, settings.epochs);
    sameUpdates(ours, ref.logs);
    const trained = tensors(join(out, 'adapter/adapter_model.safetensors'));
    assert.deepEqual([...trained.keys()].sort(), [...ref.trained.keys()].sort(), `the trained tensors: ${what}`);
    // The key's bias adds one number to all of a query's scores, which the softmax takes back: its true
    // gradient is 0, and AdamW scales what float rounding leaves of it (~1e-10) up to steps of the learning
    // rate in either direction, differently on each side (measured: only the key biases, 2.7e-3 and 3.5e-3 apart).
    const meaningful = [...ref.trained].filter(([name]) => !name.endsWith('attention.self.key.bias'));
    assert.ok(meaningful.length >= ref.trained.size - 2);
    for (const [name, values] of meaningful) closeTo([...trained.get(name)!], [...values], 2e-5, name);
  });
}

test('gift train on a ViT image classifier (GIFT on the attention output and the head) makes the updates transformers\' Trainer makes', {
  skip: hasTrl ? false : `no python with trl at ${PYTHON} (set GIFTJS_PEER_PYTHON; .ci/run installs it into the peer venv)`,
  timeout: 300_000,
}, async () => {
  // A folder per class of the checkpoint (a, b, c), 8 x 8 PNGs of seeded noise: the preprocessor's size, so
  // no resampling filter enters (giftjs's resizing is checked against Pillow's apart). Each side decodes and
  // normalises the images itself; the whole set is one batch an update.
  const { dir, model } = fixtureCopy('encoders/vit', {});
  const data = join(dir, 'images');
  let state = 7;
  const next = () => (state = (state * 1103515245 + 12345) >>> 0) >>> 24;
  for (const [c, label] of ['a', 'b', 'c'].entries()) {
    mkdirSync(join(data, label), { recursive: true });
    for (let i = 0; i < 3; i++) {
      const px = Buffer.from(Array.from({ length: 8 * 8 * 3 }, (_, k) => (next() + 60 * c * (k % 3 === c ? 1 : 0)) & 255));
      await sharp(px, { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(join(data, label, `${i}.png`));
    }
  }
  const settings = { batch_size: 9, grad_accum: 1, epochs: 5 };
  const method = { method: 'gift', rank: 4, target_modules: ['attention.output.dense'] };
  const m = loadImageClassifier(model, { labels: ['a', 'b', 'c'], seed: SETTINGS.seed });
  const init = join(dir, 'init');
  saveAdapter(init, attachAdapter(m, withTrainedHead(method), SETTINGS.seed), { path: model, architecture: 'ViTForImageClassification', naming: m.adapterNaming() });
  const out = join(dir, 'giftjs');
  const r = spawnSync(process.execPath, [GIFT, 'train', '--model', model, '--data', data, '--out', out, '--method', 'gift', '--rank', '4',
    '--batch-size', String(settings.batch_size), '--epochs', String(settings.epochs), '--lr', String(SETTINGS.lr), '--warmup-ratio', String(SETTINGS.warmup_ratio),
    '--weight-decay', String(SETTINGS.weight_decay), '--max-grad-norm', String(SETTINGS.max_grad_norm), '--scheduler', SETTINGS.scheduler, '--seed', String(SETTINGS.seed)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const ours = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepLog);
  const ref = reference({ ...settings, task: 'imgcls', model, data, method: 'gift', init }, join(dir, 'reference'));
  assert.equal(ours.length, settings.epochs);
  sameUpdates(ours, ref.logs);
  const trained = tensors(join(out, 'adapter/adapter_model.safetensors'));
  assert.deepEqual([...trained.keys()].sort(), [...ref.trained.keys()].sort(), 'the trained tensors: the GIFT pair and the head');
  for (const [name, values] of ref.trained) closeTo([...trained.get(name)!], [...values], 2e-5, name);
});

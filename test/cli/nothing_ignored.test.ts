// Nothing given is silently dropped or ignored: adapter tensors the config does not place, flags
// the chosen method or task does not read, a JSON --config key given twice, a number in hex, a
// classifier trained on one label. Each is refused by name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile, saveSafetensors } from '../../src/io/safetensors.js';
import type { Tensor } from '../../src/tensor/tensor.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');

function gift(...args: string[]) {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
  return { code: r.status, err: r.stderr, out: r.stdout };
}

function refused(r: ReturnType<typeof gift>, message: RegExp): void {
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, message);
}

const dir = mkdtempSync(join(tmpdir(), 'giftjs-ignored-'));
const data = join(dir, 'train.jsonl');
writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `line number ${i} of the data` })).join('\n') + '\n');
const train = (out: string, ...more: string[]) => gift('train', '--model', MODEL, '--data', data, '--out', join(dir, out), '--max-steps', '1', '--batch-size', '4', '--rank', '2', ...more);

test('adapter tensors the config does not place are refused, not dropped (merge would export another adapter)', () => {
  const r = train('lora', '--method', 'lora', '--targets', 'q_proj,k_proj');
  assert.equal(r.code, 0, r.err);
  const adapter = join(dir, 'lora/adapter');
  // The config now names q_proj alone; the weights still hold k_proj's pairs.
  const configPath = join(adapter, 'adapter_config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  config.target_modules = ['q_proj'];
  writeFileSync(configPath, JSON.stringify(config));
  refused(gift('merge', '--model', MODEL, '--adapter', adapter, '--out', join(dir, 'merged')), /adapter_model\.safetensors: 4 tensor\(s\) that .*adapter_config\.json does not place on this model \(base_model\.model\.model\.layers\.0\.self_attn\.k_proj\.lora_A\.weight/);
  // A layer the model does not have (the model has 2).
  config.target_modules = ['q_proj', 'k_proj'];
  writeFileSync(configPath, JSON.stringify(config));
  const weights = join(adapter, 'adapter_model.safetensors');
  const file = SafetensorsFile.open(weights);
  const entries: Record<string, Tensor> = {};
  for (const name of file.tensors.keys()) entries[name] = file.readTensor(name);
  file.close();
  entries['base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight'] = entries['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight']!;
  saveSafetensors(weights, entries);
  rmSync(join(adapter, '.giftjs'));
  refused(gift('eval', '--model', MODEL, '--adapter', adapter, '--data', data), /1 tensor\(s\) that .* does not place on this model \(base_model\.model\.model\.layers\.7\.self_attn\.q_proj\.lora_A\.weight\)/);
});

test('flags the method or the task does not read are refused, naming where they apply', () => {
  refused(train('d', '--dropout', '0.1'), /--dropout does not apply to --method gift \(it sets dropout of lora\)/);
  refused(train('s', '--method', 'lora', '--share', 'input-size'), /--share does not apply to --method lora \(it sets share of gift\)/);
  refused(train('r', '--method', 'full'), /--rank does not apply to --method full/);
  refused(train('h', '--head-lr', '1e-3'), /headLr \(--head-lr\) is set, but this run trains no head \(gift trains gift\.q_proj\.phi/);
  refused(train('g', '--regression'), /--regression applies to sequence classifiers \(a one-output regression head\); .*llama3-scaled-tied, a language model \(llama\) is not one/);
  refused(gift('eval', '--model', MODEL, '--data', data, '--limit', '2'), /--limit applies to --task commonsense, math; --task lm does not read it/);
  refused(gift('eval', '--model', MODEL, '--data', data, '--out', join(dir, 'evalout')), /--out applies to --task commonsense, math, seqcls, imgcls; --task lm does not read it/);
  refused(gift('eval', '--model', MODEL, '--data', data, '--limit', '0', '--task', 'math'), /--limit must be an integer >= 1, got '0'/);
});

test('flags the model\'s kind does not read are refused, naming the kinds that do', () => {
  // Each had trained without a word: a language model past the classifiers' data flags, a classifier
  // past a language model's --format, an image classifier past --max-length.
  const lm = /--model is .*llama3-scaled-tied, a language model \(llama\); leave it out/;
  refused(train('l', '--label-field', 'label'), new RegExp(`--label-field is read when training a sequence classifier, and ${lm.source}`));
  refused(train('f', '--text-fields', 'text'), /--text-fields is read when training a sequence classifier, and --model/);
  refused(train('c', '--columns', 'text,label'), /--columns is read when training a sequence classifier, and --model/);
  refused(train('d', '--drop-path', '0.1'), new RegExp(`--drop-path is read when training an image classifier, and ${lm.source}`));
  const texts = join(dir, 'two-labels.jsonl');
  writeFileSync(texts, Array.from({ length: 6 }, (_, i) => JSON.stringify({ text: `message ${i}`, label: i % 2 ? 'spam' : 'ham' })).join('\n') + '\n');
  refused(gift('train', '--model', join(ROOT, 'test/fixtures/encoders/bert'), '--data', texts, '--out', join(dir, 'bf'), '--max-steps', '1', '--format', 'text'),
    /--format is read when training a language model, and --model is .*bert, a sequence classifier \(bert\); leave it out/);
  refused(gift('train', '--model', join(ROOT, 'test/fixtures/encoders/bert'), '--data', texts, '--out', join(dir, 'bg'), '--max-steps', '1', '--gradient-checkpointing'),
    /--gradient-checkpointing is read when training a language model, and --model is .*bert, a sequence classifier \(bert\); leave it out/);
  const bert = gift('train', '--model', join(ROOT, 'test/fixtures/encoders/bert'), '--data', texts, '--out', join(dir, 'bert-run'), '--max-steps', '1');
  assert.equal(bert.code, 0, bert.err);
  // A classifier's merge reads --memory-limit (it had been refused: the merge made no estimate).
  refused(gift('merge', '--model', join(ROOT, 'test/fixtures/encoders/bert'), '--adapter', join(dir, 'bert-run/adapter'), '--out', join(dir, 'bert-merged'), '--memory-limit', '1M'),
    /gift merge needs about \d+ MB \(.*the weights in float32: \d+ MB.*the adapter's tensors \(its file's size\).*\), and this process may use 1 MB \(--memory-limit\); nothing was loaded\. Merge it on a machine with more memory/);
  const merged = gift('merge', '--model', join(ROOT, 'test/fixtures/encoders/bert'), '--adapter', join(dir, 'bert-run/adapter'), '--out', join(dir, 'bert-merged'), '--memory-limit', '4G');
  assert.equal(merged.code, 0, merged.err);
  assert.match(merged.err, /memory: about \d+ MB/);
  refused(gift('merge', '--model', join(ROOT, 'test/fixtures/encoders/bert'), '--adapter', join(dir, 'bert-run/adapter'), '--out', join(dir, 'bert-merged-q'), '--quantize', 'int8'),
    /--quantize applies to language models; .*bert-run\/adapter is a seqcls adapter/);
  refused(gift('train', '--model', join(ROOT, 'test/fixtures/encoders/vit'), '--data', texts, '--out', join(dir, 'vm'), '--max-steps', '1', '--max-length', '64'),
    /--max-length is read when training a language model or a sequence classifier, and --model is .*vit, an image classifier \(vit\); leave it out/);
});

test('gift inspect sizes an encoder\'s training memory by --batch-size and --max-length, and refuses --max-length for images (they had been ignored)', () => {
  const bert = gift('inspect', join(ROOT, 'test/fixtures/encoders/bert'), '--batch-size', '8', '--rank', '4', '--max-length', '16', '--json');
  assert.equal(bert.code, 0, bert.err);
  assert.match(bert.out, /memory of gift train \(GIFT as above, a 2-label head\), 8 x 16 tokens a step: about \d+ MB \(.*a dry run of the step/);
  // (A batch large enough that its activations, some 150 MB, stand clear of two processes' resident sets.)
  const wider = gift('inspect', join(ROOT, 'test/fixtures/encoders/bert'), '--batch-size', '4096', '--rank', '4', '--max-length', '16', '--json');
  const bytes = (r: { out: string }) => (JSON.parse(r.out.trim().split('\n').pop()!) as { train_memory_bytes: number }).train_memory_bytes;
  assert.ok(bytes(wider) > bytes(bert) + 50e6, `a larger batch needs more: ${bytes(wider)} against ${bytes(bert)} bytes`);
  refused(gift('inspect', join(ROOT, 'test/fixtures/encoders/vit'), '--max-length', '64'), /--max-length sizes a text model's memory estimate; .*vit is a vit image classifier, whose inputs are its images \(leave it out\)/);
  assert.match(gift('inspect', join(ROOT, 'test/fixtures/encoders/vit'), '--batch-size', '4', '--rank', '2').out, /memory of gift train \(GIFT as above, a 2-label head\), 4 images a step/);
});

test('gift inspect on an encoder reads its config alone, as on a language model (it had loaded the weights three times over)', () => {
  const bare = join(dir, 'bert-config-only');
  mkdirSync(bare);
  for (const f of readdirSync(join(ROOT, 'test/fixtures/encoders/bert')).filter((f) => !f.endsWith('.safetensors'))) copyFileSync(join(ROOT, 'test/fixtures/encoders/bert', f), join(bare, f));
  const summary = (r: { out: string }) => {
    const j = JSON.parse(r.out.trim().split('\n').pop()!) as Record<string, unknown>;
    delete j.train_memory_bytes; // the process's own resident set is part of it
    return j;
  };
  const withWeights = gift('inspect', join(ROOT, 'test/fixtures/encoders/bert'), '--rank', '4', '--json');
  const configOnly = gift('inspect', bare, '--rank', '4', '--json');
  assert.equal(configOnly.code, 0, configOnly.err);
  assert.deepEqual(summary(configOnly), summary(withWeights));
  assert.deepEqual(summary(configOnly), { architecture: 'BertForSequenceClassification', parameters: 5472, rank: 4, targets: ['query', 'value'], gift_trainable: 256, lora_trainable: 512 });
  // --adapter loads the weights with the head the adapter trained (a 1-output head had refused a 3-label one).
  const texts = join(dir, 'three-labels.jsonl');
  writeFileSync(texts, Array.from({ length: 6 }, (_, i) => JSON.stringify({ text: `message ${i}`, label: ['a', 'b', 'c'][i % 3] })).join('\n') + '\n');
  const run = gift('train', '--model', join(ROOT, 'test/fixtures/encoders/bert'), '--data', texts, '--out', join(dir, 'inspect-run'), '--max-steps', '1', '--rank', '4');
  assert.equal(run.code, 0, run.err);
  const inspected = gift('inspect', join(ROOT, 'test/fixtures/encoders/bert'), '--rank', '4', '--adapter', join(dir, 'inspect-run/adapter'));
  assert.equal(inspected.code, 0, inspected.err);
  // GIFT's 2 groups x 2 x in 16 x rank 4 = 256, and the 3-label head trained beside it: 16 x 3 weights and 3 biases.
  assert.match(inspected.out, /adapter .*inspect-run\/adapter: gift, 307 trainable parameters/);
});

test('gift convert refuses a flag of another conversion (it had been ignored)', () => {
  refused(gift('convert', 'use-lite', '--out', join(dir, 'use'), '--tokenizer', join(dir, 'tok.bin')), /--tokenizer goes with gift convert llama2c, not use-lite/);
  refused(gift('convert', 'llama2c', join(dir, 'model.bin'), '--out', join(dir, 'l2c'), '--model', MODEL), /--model goes with gift convert wegeft, not llama2c/);
});

test('gift generate refuses sampling settings when it decodes greedily (they had been ignored)', () => {
  refused(gift('generate', '--model', MODEL, '--prompt', 'hi', '--top-k', '40'), /--top-k shapes sampling, and --temperature 0 \(the default\) decodes greedily: give --temperature above 0, or leave out --top-k/);
  refused(gift('generate', '--model', MODEL, '--prompt', 'hi', '--temperature', '0', '--seed', '3'), /--seed shapes sampling, and --temperature 0/);
  refused(gift('generate', '--model', MODEL, '--prompt', 'hi', '--top-p', '0.9'), /--top-p shapes sampling/);
  assert.equal(gift('generate', '--model', MODEL, '--prompt', 'hi', '--temperature', '0.7', '--top-k', '4', '--seed', '3', '--max-new-tokens', '2').code, 0);
});

test('gift generate refuses a prompt past the context by its own terms, and says first when the context will end the text', () => {
  const context = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')).max_position_embeddings as number;
  const long = Array.from({ length: context + 40 }, (_, i) => `w${i}`).join(' ');
  const r = gift('generate', '--model', MODEL, '--prompt', long, '--max-new-tokens', '2');
  refused(r, new RegExp(`the prompt is (\\d+) tokens: \\1 positions exceed this model's context \\(max_position_embeddings ${context}\\), as .*llama3-scaled-tied/config\\.json says: shorten the prompt`));
  assert.doesNotMatch(r.err, /--max-length/);
  const near = gift('generate', '--model', MODEL, '--prompt', 'hi', '--max-new-tokens', String(context + 5));
  assert.equal(near.code, 0, near.err);
  assert.match(near.err, new RegExp(`note: the prompt's \\d+ tokens and --max-new-tokens ${context + 5} pass the model's context \\(${context}\\): generation ends there`));
});

test('gift train refuses a schedule with nothing to act on: --eval-every without held-out data, --save-total-limit without --save-every', () => {
  refused(train('ee', '--eval-every', '1'), /--eval-every evaluates held-out data: give --eval-data \(or a data folder with valid\.jsonl\), or leave out --eval-every/);
  refused(train('sl', '--save-total-limit', '2'), /--save-total-limit keeps the newest checkpoints that --save-every writes: give --save-every N, or leave out --save-total-limit/);
  assert.equal(train('ee-ok', '--eval-every', '1', '--eval-data', data).code, 0);
  assert.equal(train('sl-ok', '--save-total-limit', '1', '--save-every', '1').code, 0);
});

test('numbers are decimal; a JSON --config key given twice is refused', () => {
  refused(train('x', '--lr', '0x10'), /--lr must be a decimal number \(such as 2e-4 or 0\.5\), got '0x10'/);
  refused(train('i', '--lr', 'Infinity'), /--lr must be a decimal number/);
  assert.equal(train('ok', '--lr', '2.5E-4').code, 0);
  const config = join(dir, 'run.json');
  writeFileSync(config, '{"lr": 0.001, "batch_size": 4, "lr": 0.5}');
  refused(train('dup', '--config', config), /--config .*run\.json: Map keys must be unique at line 1, column \d+: \(a key given twice/);
});

test('a classifier whose training data has one label is refused', () => {
  const texts = join(dir, 'one-label.jsonl');
  writeFileSync(texts, Array.from({ length: 6 }, (_, i) => JSON.stringify({ text: `message ${i}`, label: 'spam' })).join('\n') + '\n');
  refused(gift('train', '--task', 'seqcls', '--model', join(ROOT, 'test/fixtures/encoders/bert'), '--data', texts, '--out', join(dir, 'cls'), '--max-steps', '1'),
    /the training data's 6 records all have the label "spam" \(field 'label'\): a classifier needs examples of at least two classes/);
});

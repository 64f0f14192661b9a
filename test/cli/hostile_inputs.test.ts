// The audit's bad inputs, as a careless or hostile user gives them to `gift`: each one ends with a
// clear error (exit 1, `gift: <file/flag/field>: ...`), never a stack trace, an abort, a silent
// wrong number or an allocation the input did not earn.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CheckpointReader } from '../../src/io/hf_folder.js';
import { saveSafetensors } from '../../src/io/safetensors.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { attachAdapter, saveAdapter } from '../../src/peft/adapter_io.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { SHARED_DIR, needsShared, sharedFile } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');
const VIT = join(ROOT, 'test/fixtures/encoders/vit');

function gift(...args: string[]) {
  const r = spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return { code: r.status, signal: r.signal, err: r.stderr, out: r.stdout };
}

/** Exit 1 with a one-line `gift:` message matching `pattern`, and no stack trace. */
function refused(r: ReturnType<typeof gift>, pattern: RegExp): void {
  assert.equal(r.code, 1, `exit ${r.code} ${r.signal ?? ''}: ${r.err}`);
  assert.match(r.err, pattern);
  assert.doesNotMatch(r.err, /\n\s+at |internal error/, 'no stack trace');
}

const work = mkdtempSync(join(tmpdir(), 'giftjs-hostile-'));
const data = join(work, 'd.jsonl');
writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `a short line number ${i}` })).join('\n') + '\n');
const trainArgs = (out: string, ...more: string[]) => ['train', '--model', MODEL, '--data', data, '--out', join(work, out), '--max-steps', '2', '--batch-size', '4', '--rank', '2', ...more];

/** A copy of the fixture with `edit` applied to its tensors and config. */
function modelWith(name: string, edit: (t: Map<string, Tensor>) => void, config: (c: Record<string, unknown>) => Record<string, unknown> = (c) => c): string {
  const dir = join(work, name);
  cpSync(MODEL, dir, { recursive: true });
  const r = new CheckpointReader(MODEL);
  const tensors = new Map(r.names().map((n) => [n, r.read(n)]));
  r.close();
  edit(tensors);
  saveSafetensors(join(dir, 'model.safetensors'), Object.fromEntries(tensors));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config(JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8')))));
  return dir;
}

test('names every JS object has are ordinary unknown names (item 3)', () => {
  for (const command of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    const r = gift(command);
    assert.equal(r.code, 2, `${command}: ${r.err}`);
    assert.match(r.err, new RegExp(`unknown command '${command}'`));
  }
  refused(gift(...trainArgs('m1', '--method', 'toString')), /unknown method 'toString'/);
  refused(gift(...trainArgs('m2', '--preset', '__proto__')), /unknown preset '__proto__'/);
  const adapter = join(work, 'ctor-adapter');
  mkdirSync(adapter);
  writeFileSync(join(adapter, 'adapter_config.json'), JSON.stringify({ method: 'constructor', rank: 2, target_modules: ['q_proj'] }));
  refused(gift('eval', '--model', MODEL, '--adapter', adapter, '--data', data), /unknown method 'constructor'/);
});

test('a NaN weight is reported by eval, generate, train and merge, never turned into a number (item 2)', () => {
  const nan = modelWith('nan-model', (t) => {
    t.get('model.layers.1.mlp.down_proj.weight')!.data[5] = NaN;
  });
  refused(gift('eval', '--model', nan, '--data', data), /the loss on .* is NaN: the model's weights or the adapter's are not finite/);
  refused(gift('generate', '--model', nan, '--prompt', 'a short', '--max-new-tokens', '3'), /the model's output holds NaN/);
  refused(gift(...trainArgs('nan-run', '--model', nan)), /training diverged at step 1: the (loss|gradient norm) is NaN/);
  // An adapter whose tensors went NaN is refused when loaded (merge would write an all-NaN model).
  const m = LlamaForCausalLM.fromPretrained(MODEL);
  const a = attachAdapter(m, { method: 'gift', rank: 2, target_modules: ['q_proj'] });
  saveAdapter(join(work, 'nan-adapter'), a, { path: MODEL, architecture: 'LlamaForCausalLM' });
  // giftjs refuses to write such an adapter, so its tensors are overwritten as another program would (no .giftjs record).
  a.namedTrainable()[1]![1].data.fill(NaN);
  saveSafetensors(join(work, 'nan-adapter', 'adapter_model.safetensors'), Object.fromEntries(a.namedTrainable()));
  rmSync(join(work, 'nan-adapter', '.giftjs'));
  refused(gift('merge', '--model', MODEL, '--adapter', join(work, 'nan-adapter'), '--out', join(work, 'nan-merged')), /holds NaN or infinite values; the adapter is unusable/);
  // --lr 0 with a head lr made the head's scale head_lr / 0: refused now.
  refused(gift(...trainArgs('lr0', '--lr', '0', '--head-lr', '1e-3')), /training option lr is 0; it must be a finite number > 0/);
});

test('sizes declared in small files are checked before memory is allocated (item 4)', () => {
  const huge = (name: string, over: Record<string, unknown>) => modelWith(name, () => {}, (c) => ({ ...c, ...over }));
  const t0 = Date.now();
  refused(gift('eval', '--model', huge('vocab', { vocab_size: 50_000_000 }), '--data', data), /'vocab_size' is 50000000, more than giftjs accepts/);
  refused(gift('inspect', huge('layers', { num_hidden_layers: 1_000_000_000 })), /'num_hidden_layers' is 1000000000, more than giftjs accepts/);
  refused(gift('eval', '--model', huge('wide', { intermediate_size: 1_000_000 }), '--data', data), /declares a model larger than its checkpoint/);
  refused(gift(...trainArgs('rank', '--rank', '10000000')), /GIFT rank 10000000 is larger than the input size 32/);
  refused(gift(...trainArgs('layers', '--layers', '0-4000000000')), /--layers: 4000000000 is past any model's layers/);
  refused(gift(...trainArgs('layers2', '--layers', '0-7')), /layers 2, 3, 4, 5, 6, \.\.\. are not in this model \(its layers: 0-1\)/);
  refused(gift('generate', '--model', MODEL, '--prompt', 'word '.repeat(200), '--max-new-tokens', '2'), /positions exceed this model's context \(max_position_embeddings 128\)/);
  assert.ok(Date.now() - t0 < 60_000, 'each refusal is quick');
});

test('absurd values are refused with the flag and what is allowed (item 10)', () => {
  refused(gift(...trainArgs('a1', '--lr=-1')), /training option lr is -1; it must be a finite number > 0/);
  refused(gift(...trainArgs('a1', '--lr', '-1')), /Option '--lr' argument is ambiguous/);
  refused(gift(...trainArgs('a1', '--no-such-flag')), /Unknown option '--no-such-flag'/);
  refused(gift(...trainArgs('a2', '--lr', 'NaN')), /--lr must be a decimal number \(such as 2e-4 or 0\.5\), got 'NaN'/);
  refused(gift(...trainArgs('a3', '--lr=')), /--lr must be a decimal number \(such as 2e-4 or 0\.5\), got ''/);
  refused(gift(...trainArgs('a4', '--warmup-ratio', '5')), /training option warmupRatio is 5; it must be in \[0, 1\]/);
  refused(gift(...trainArgs('a5', '--max-length', '100000')), /--max-length 100000 is longer than the model's context \(max_position_embeddings 128\)/);
  refused(gift(...trainArgs('a6', '--method', 'lora', '--rank', '100')), /LoRA rank 100 is larger than model\.layers\.0\.self_attn\.q_proj allows/);
  // An output path under a file (found by the fuzzer: a raw EEXIST before).
  const ok = join(work, 'ok-adapter');
  saveAdapter(ok, attachAdapter(LlamaForCausalLM.fromPretrained(MODEL), { method: 'gift', rank: 2, target_modules: ['q_proj'] }), { path: MODEL, architecture: 'LlamaForCausalLM' });
  refused(gift('merge', '--model', MODEL, '--adapter', ok, '--out', join(data, 'x')), /cannot write .*d\.jsonl\/x: a file is in the way of a folder/);
  refused(gift('train', '--model', MODEL, '--data', data, '--out', join(data, 'run'), '--max-steps', '1'), /a file is in the way of a folder/);
  const empty = join(work, 'empty.jsonl');
  writeFileSync(empty, '');
  const r = gift('eval', '--model', MODEL, '--data', empty);
  assert.equal(r.code, 1, r.err);
  assert.doesNotMatch(r.out, /NaN/);
});

test('labels: a wrong --label-field, a record without a label, a row with an extra tab (item 6)', () => {
  const tsv = join(work, 'labels.tsv');
  writeFileSync(tsv, 'sentence\tlabel\na fine film\t1\na dull film\t0\n');
  const args = (file: string, ...more: string[]) => ['train', '--task', 'seqcls', '--model', join(ROOT, 'test/fixtures/encoders/bert'), '--data', file, '--out', join(work, `cls-${Math.random().toString(36).slice(2)}`), '--max-steps', '1', ...more];
  refused(gift(...args(tsv, '--label-field', 'nope')), /labels\.tsv:2: no label: field 'nope' is missing \(the record's fields: sentence, label\)/);
  const jsonl = join(work, 'labels.jsonl');
  writeFileSync(jsonl, `${JSON.stringify({ sentence: 'good', label: 'pos' })}\n${JSON.stringify({ sentence: 'bad' })}\n`);
  refused(gift(...args(jsonl)), /labels\.jsonl:2: no label: field 'label' is missing/);
  const tabs = join(work, 'tabs.tsv');
  writeFileSync(tabs, 'sentence\tlabel\na fine film\t1\na dull\tfilm\t0\n');
  refused(gift(...args(tabs)), /tabs\.tsv:3: 3 tab-separated fields, the header has 2/);
});

test('a weight_map entry outside the folder, an image_mean of the wrong length (items 7, 2)', () => {
  const dir = join(work, 'sharded');
  cpSync(MODEL, dir, { recursive: true });
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.norm.weight': '../../etc/model.safetensors' } }));
  refused(gift('eval', '--model', dir, '--data', data), /weight_map names the file "\.\.\/\.\.\/etc\/model\.safetensors"; shards must be \.safetensors files in/);
  const vit = join(work, 'vit');
  cpSync(VIT, vit, { recursive: true });
  const pre = JSON.parse(readFileSync(join(vit, 'preprocessor_config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(vit, 'preprocessor_config.json'), JSON.stringify({ ...pre, image_mean: [] }));
  const images = join(work, 'images');
  for (const c of ['a', 'b']) mkdirSync(join(images, c), { recursive: true });
  refused(gift('train', '--task', 'imgcls', '--model', vit, '--data', images, '--out', join(work, 'vit-run'), '--max-steps', '1'), /image_mean must be a number or 3 numbers, got \[\]/);
  // A broken JSON image list was a raw SyntaxError.
  const list = join(work, 'list.json');
  writeFileSync(list, '[{"image": ');
  refused(gift('train', '--task', 'imgcls', '--model', VIT, '--data', list, '--out', join(work, 'vit-run2'), '--max-steps', '1'), /list\.json is not valid JSON/);
});

test('convert llama2c refuses a tokenizer of another model, and keeps a piece named __proto__ (items 7, 3)', { skip: needsShared('models/stories260K/tok512.bin') }, () => {
  const bin = sharedFile('models/stories260K/stories260K.bin');
  refused(gift('convert', 'llama2c', bin, '--tokenizer', join(SHARED_DIR, 'models/llama2-tokenizer/tokenizer.bin'), '--out', join(work, 'mismatch')),
    /bytes follow the model's 512 tokens; this tokenizer has a larger vocabulary than the model/);
  // tok512.bin with piece 300 renamed __proto__ (records: f32 score, i32 length, bytes).
  const src = readFileSync(sharedFile('models/stories260K/tok512.bin'));
  const parts: Buffer[] = [src.subarray(0, 4)];
  let off = 4;
  for (let i = 0; i < 512; i++) {
    const len = src.readInt32LE(off + 4);
    const text = i === 300 ? Buffer.from('__proto__') : src.subarray(off + 8, off + 8 + len);
    const head = Buffer.alloc(8);
    head.writeFloatLE(src.readFloatLE(off), 0);
    head.writeInt32LE(text.length, 4);
    parts.push(head, text);
    off += 8 + len;
  }
  const tok = join(work, 'proto-tok.bin');
  writeFileSync(tok, Buffer.concat(parts));
  const out = join(work, 'proto-model');
  assert.equal(gift('convert', 'llama2c', bin, '--tokenizer', tok, '--out', out).code, 0);
  const vocab = (JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
  assert.equal(Object.hasOwn(vocab, '__proto__') ? vocab['__proto__'] : undefined, 300);
  assert.equal(Object.keys(vocab).length, 512);
});

test('gift eval refuses --max-length where it would be ignored (classifiers, the generation tasks)', () => {
  refused(gift('eval', '--model', MODEL, '--data', data, '--task', 'seqcls', '--max-length', '64'), /--max-length applies to --task lm; --task seqcls uses the length the classifier was trained with/);
  refused(gift('eval', '--model', MODEL, '--data', data, '--task', 'math', '--max-length', '64'), /--max-length applies to --task lm; --task math reads each prompt whole/);
});

test('a file or a missing path as merge\'s --model is refused by name (the fuzzer\'s --model data.jsonl had ended in an internal ENOTDIR)', () => {
  const adapter = join(ROOT, 'test/fixtures/hf-v5/lora-patterns');
  refused(gift('merge', '--adapter', adapter, '--model', data, '--out', join(work, 'merged-file')), /^gift: .*d\.jsonl: is a file, not a folder$/m);
  refused(gift('merge', '--adapter', adapter, '--model', join(work, 'no-such-model'), '--out', join(work, 'merged-missing')), /^gift: .*no-such-model: no such folder$/m);
});

// GGUF files as --model: files written by llama.cpp's own Python package (tools/make_gguf_fixtures.py)
// load with the logits, token ids and greedy continuation transformers 5.17 computes when it reads the
// same files itself (its GGUF reader, dequantizer and tokenizer converter); llama.cpp tokenizes the
// text as giftjs does; giftjs's own GGUF export imports back to its logits; the commands take a
// .gguf as --model; and what is not read is refused by name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync, copyFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generate } from '../../src/generate/generate.js';
import { GgufFile } from '../../src/io/gguf_reader.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { ggufModelFolder } from '../../src/models/gguf_import.js';
import { loadCausalLM } from '../../src/models/registry.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { assertClose } from '../helpers.js';
import { llamaCpp, noLlamaCpp } from '../llama_cpp.js';

const DIR = fileURLToPath(new URL('../../../test/fixtures/gguf', import.meta.url));
const GIFT = fileURLToPath(new URL('../../../bin/gift.js', import.meta.url));

interface Reference { text: string; ids: number[]; decoded: string; logits: number[]; prompt: string; greedy: number[] }
const REFERENCE = JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8')) as Record<string, Reference>;

// Each test reads through its own cache, so nothing is shared with the user's.
process.env.GIFTJS_CACHE = mkdtempSync(join(tmpdir(), 'giftjs-gguf-cache-'));

for (const file of ['tiny-f32.gguf', 'tiny-q8_0.gguf', 'tiny-phi3.gguf']) {
  test(`${file}: transformers' token ids, logits and greedy tokens`, () => {
    const ref = REFERENCE[file]!;
    const { dir, note } = ggufModelFolder(join(DIR, file));
    assert.match(note, file.includes('q8_0') ? /GGUF \(F32, Q4_0, Q8_0\)/ : /GGUF \(F32\)/);
    if (file === 'tiny-phi3.gguf') assert.equal(loadCausalLM(dir).config.architecture, 'Phi3ForCausalLM', 'llama.cpp\'s phi3 read as Phi-3 with its fused projections');
    const tokenizer = Tokenizer.fromFolder(dir);
    assert.deepEqual(tokenizer.encode(ref.text), ref.ids, 'ids (BOS first, byte fallback for the emoji and accents)');
    assert.equal(tokenizer.decode(ref.ids), ref.decoded);
    const model = loadCausalLM(dir);
    const logits = noGrad(() => model.forward(ref.ids, 1, ref.ids.length).toFloat32Array());
    assertClose(logits, Float32Array.from(ref.logits), 'logits', 1e-5, 1e-5);
    assert.deepEqual(generate(model, tokenizer.encode(ref.prompt), { maxNewTokens: 10 }), ref.greedy, 'greedy tokens');
    assert.equal(ggufModelFolder(join(DIR, file)).dir, dir, 'the folder is made once per file');
  });
}

test('qwen2-bpe.gguf (qwen2 architecture, q/k/v biases, Q8_0 projections, byte-level BPE with Qwen2\'s split): transformers\' ids, logits and greedy tokens', () => {
  const ref = JSON.parse(readFileSync(join(DIR, 'qwen2-bpe.json'), 'utf8')) as Reference;
  const { dir } = ggufModelFolder(join(DIR, 'qwen2-bpe.gguf'));
  const tokenizer = Tokenizer.fromFolder(dir);
  assert.deepEqual(tokenizer.encode(ref.text), ref.ids, 'ids (no BOS, digits one by one, the emoji as bytes)');
  assert.equal(tokenizer.decode(ref.ids), ref.decoded);
  const model = loadCausalLM(dir);
  assert.equal(model.config.architecture, 'Qwen2ForCausalLM');
  const logits = noGrad(() => model.forward(ref.ids, 1, ref.ids.length).toFloat32Array());
  assertClose(logits, Float32Array.from(ref.logits), 'logits', 1e-5, 1e-5);
  assert.deepEqual(generate(model, tokenizer.encode(ref.prompt), { maxNewTokens: 10 }), ref.greedy, 'greedy tokens');
});

test('llama.cpp tokenizes text as giftjs reads the files (SentencePiece and byte-level BPE)', { skip: noLlamaCpp }, async () => {
  const llama = await llamaCpp();
  const texts = [REFERENCE['tiny-f32.gguf']!.text, 'the dog', '  two  spaces', 'Tab\tand\nnewline', "It's 2026: 1234567 foxes'll run!"];
  // (tiny-phi3.gguf shares tiny-f32's vocabulary; llama.cpp's phi3 loader also wants Phi-3's own chat tokens, which it lacks.)
  for (const file of ['tiny-f32.gguf', 'qwen2-bpe.gguf', 'llama3-bpe.gguf']) {
    const model = await llama.loadModel({ modelPath: join(DIR, file) });
    try {
      const tokenizer = Tokenizer.fromFolder(ggufModelFolder(join(DIR, file)).dir);
      for (const text of texts) {
        assert.deepEqual(Array.from(model.tokenize(text)), tokenizer.encode(text, { addSpecialTokens: false }), `${file}: ${JSON.stringify(text)}`);
      }
      if (file === 'llama3-bpe.gguf') {
        const bos = tokenizer.tokenId('<|begin_of_text|>')!;
        assert.deepEqual(tokenizer.encode('the dog'), [bos, ...tokenizer.encode('the dog', { addSpecialTokens: false })], 'Llama 3 puts its BOS first');
        assert.ok(tokenizer.encode('1234567', { addSpecialTokens: false }).length >= 3, 'digits in groups of at most three');
      }
    } finally {
      await model.dispose();
    }
  }
});

test('gift eval, generate and inspect take a .gguf as --model, saying how it is read', () => {
  const gift = (...args: string[]) => spawnSync(process.execPath, [GIFT, ...args], { encoding: 'utf8', env: { ...process.env } });
  const file = join(DIR, 'tiny-q8_0.gguf');
  const ref = REFERENCE['tiny-q8_0.gguf']!;
  const data = join(mkdtempSync(join(tmpdir(), 'giftjs-gguf-data-')), 'texts.jsonl');
  writeFileSync(data, `${JSON.stringify({ text: ref.text })}\n`);
  const ev = gift('eval', '--model', file, '--data', data, '--json');
  assert.equal(ev.status, 0, ev.stderr);
  assert.match(ev.stderr, /tiny-q8_0\.gguf: GGUF \(F32, Q4_0, Q8_0\) read through .*; frozen matrices: Q4_0 and Q8_0 kept as stored; trained or merged ones dequantized to float32/);
  const gen = gift('generate', '--model', file, '--prompt', ref.prompt, '--max-new-tokens', '10');
  assert.equal(gen.status, 0, gen.stderr);
  const { dir } = ggufModelFolder(file);
  assert.equal(gen.stdout.replace(/\n$/, ''), Tokenizer.fromFolder(dir).decode(ref.greedy), 'greedy text');
  const inspect = gift('inspect', file);
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.match(inspect.stdout, /architecture: LlamaForCausalLM \(llama\), 2 layers, hidden 64/);
  // GIFT trains on the GGUF's weights; the merged folder scores as the adapter did.
  const out = join(mkdtempSync(join(tmpdir(), 'giftjs-gguf-run-')), 'run');
  const train = gift('train', '--model', file, '--data', data, '--out', out, '--method', 'gift', '--rank', '4', '--lr', '1e-2', '--max-steps', '15');
  assert.equal(train.status, 0, train.stderr);
  const lossOf = (...args: string[]) => {
    const r = gift('eval', ...args, '--data', data, '--json');
    assert.equal(r.status, 0, r.stderr);
    return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { loss: number }).loss;
  };
  const base = lossOf('--model', file);
  const adapted = lossOf('--model', file, '--adapter', join(out, 'adapter'));
  assert.ok(adapted < base - 0.5, `GIFT on the GGUF lowers the loss: ${base} -> ${adapted}`);
  const merged = join(out, '..', 'merged');
  const merge = gift('merge', '--model', file, '--adapter', join(out, 'adapter'), '--out', merged);
  assert.equal(merge.status, 0, merge.stderr);
  assert.ok(Math.abs(lossOf('--model', merged) - adapted) < 1e-5, 'merged = adapted');
});

test('a GGUF whose header changed after its folder was made is refused, not read as something else; unread types are named', () => {
  const work = mkdtempSync(join(tmpdir(), 'giftjs-gguf-'));
  const copy = join(work, 'm.gguf');
  copyFileSync(join(DIR, 'tiny-f32.gguf'), copy);
  const { dir } = ggufModelFolder(copy);
  // Another file of the same size under the same name, with the same time: its header differs.
  const { mtime } = statSync(copy);
  const other = readFileSync(copy);
  other[other.indexOf(Buffer.from('tiny')) + 1] = 0x78; // general.name tiny -> txny
  writeFileSync(copy, other);
  utimesSync(copy, mtime, mtime);
  assert.throws(() => loadCausalLM(dir), /m\.gguf changed since .* was made from it \(its metadata or tensor table differ\)/);
  assert.notEqual(ggufModelFolder(copy).dir, dir, 'read afresh, it gets its own folder');
  // An i-quant tensor: the file's type byte rewritten (the reader refuses it before reading its bytes).
  const bytes = readFileSync(join(DIR, 'tiny-f32.gguf'));
  const f = GgufFile.open(join(DIR, 'tiny-f32.gguf'));
  f.close();
  const name = Buffer.from('blk.0.ffn_up.weight');
  const at = bytes.indexOf(name, 0) + name.length + 4 + 16; // name, n_dims, two dims: the type
  bytes.writeUInt32LE(16, at);
  const iquant = join(work, 'i.gguf');
  writeFileSync(iquant, bytes);
  assert.throws(() => loadCausalLM(ggufModelFolder(iquant).dir), /tensor 'blk\.0\.ffn_up\.weight' is IQ2_XXS, which giftjs does not read \(it reads F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, BF16: convert/);
  writeFileSync(join(work, 'bad.gguf'), 'not a gguf');
  assert.throws(() => ggufModelFolder(join(work, 'bad.gguf')), /bad\.gguf: not a GGUF file/);
});

test('a header whose block count the tensor table does not hold is refused at once (the fuzzer\'s 134,217,730 blocks had the import loop for minutes)', () => {
  const work = mkdtempSync(join(tmpdir(), 'giftjs-gguf-'));
  const bytes = readFileSync(join(DIR, 'tiny-f32.gguf'));
  const key = Buffer.from('llama.block_count');
  const at = bytes.indexOf(key) + key.length;
  assert.equal(bytes.readUInt32LE(at), 4, 'the value is a uint32');
  assert.equal(bytes.readUInt32LE(at + 4), 2, 'the fixture has 2 blocks');
  // (Fewer and one more first: without the check those two make folders, and the test fails at once instead of looping.)
  for (const [blocks, held] of [[1, 2], [3, 2], [134217730, 2]] as const) {
    const edited = Buffer.from(bytes);
    edited.writeUInt32LE(blocks, at + 4);
    const p = join(work, `blocks-${blocks}.gguf`);
    writeFileSync(p, edited);
    assert.throws(() => ggufModelFolder(p), new RegExp(`blocks-${blocks}\\.gguf: llama\\.block_count is ${blocks}, but the tensor table holds ${held} blocks: the header does not describe this file`));
  }
});

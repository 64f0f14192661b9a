// llama2.c conversion on the real pretrained stories260K from ../shared/models: the converted
// Hugging Face folder must greedy-generate the documented text, and its tokenizer.json must
// tokenize exactly as llama2.c's own SentencePiece-BPE encoder (ported below as the oracle).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generate } from '../../src/generate/generate.js';
import { convertLlama2c, permuteForRotateHalf, readLlama2cCheckpoint, readLlama2cTokenizer, type Llama2cTokenizer } from '../../src/io/llama2c.js';
import { Tokenizer } from '../../src/io/tokenizer.js';
import { LlamaForCausalLM } from '../../src/models/llama/model.js';
import { rope } from '../../src/ops/rope.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { SHARED_DIR, assertClose, needsShared, randn, sharedFile } from '../helpers.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';

const SHARED = SHARED_DIR;
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BIN = sharedFile('models/stories260K/stories260K.bin');
const TOK = sharedFile('models/stories260K/tok512.bin');
const skip = needsShared('models/stories260K/stories260K.bin');
const EXPECTED = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high';

/** llama2.c's encode(): dummy-prefix space, code points (bytes + 3 when unknown), greedy best-score merges. */
function llama2cEncode(tok: Llama2cTokenizer, text: string): number[] {
  const index = new Map(tok.pieces.map((p, i) => [p.text, i]));
  const ids: number[] = [1];
  if (text.length > 0) ids.push(index.get(' ')!);
  for (const ch of text) {
    const id = index.get(ch);
    if (id !== undefined) ids.push(id);
    else for (const b of Buffer.from(ch, 'utf8')) ids.push(b + 3);
  }
  for (;;) {
    let best = -1e10;
    let at = -1;
    let merged = -1;
    for (let i = 1; i + 1 < ids.length; i++) {
      const id = index.get(tok.pieces[ids[i]!]!.text + tok.pieces[ids[i + 1]!]!.text);
      if (id !== undefined && tok.pieces[id]!.score > best) {
        best = tok.pieces[id]!.score;
        at = i;
        merged = id;
      }
    }
    if (at < 0) return ids;
    ids.splice(at, 2, merged);
  }
}

let converted: string | null = null;
function convertedFolder(): string {
  if (!converted) {
    converted = join(mkdtempSync(join(tmpdir(), 'giftjs-s260-')), 'stories260K');
    convertLlama2c(BIN, TOK, converted);
  }
  return converted;
}

test('stories260K converts and greedy-generates the documented text', { skip }, () => {
  const dir = convertedFolder();
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.equal(config.hidden_size, 64);
  assert.equal(config.num_key_value_heads, 4);
  assert.equal(config.tie_word_embeddings, true);
  const model = LlamaForCausalLM.fromPretrained(dir);
  const tok = Tokenizer.fromFolder(dir);
  const ids = generate(model, [1], { maxNewTokens: 60 });
  assert.equal(tok.decode(ids), EXPECTED);
  model.dispose();
});

test('the converted tokenizer.json tokenizes exactly as llama2.c does, on real text', { skip }, () => {
  const tok = Tokenizer.fromFolder(convertedFolder());
  const oracle = readLlama2cTokenizer(TOK, 512);
  const texts: string[] = [EXPECTED, 'Hello world', '  two  spaces', 'Tabs\tand\nnewlines', 'café naïve ☕ 日本 🙂', '1234567890 +-*/=', ''];
  const boolq = JSON.parse(readFileSync(join(SHARED, 'data/commonsense/boolq/test.json'), 'utf8')) as { instruction: string }[];
  for (const row of boolq.slice(0, 150)) texts.push(row.instruction);
  for (const text of texts) {
    assert.deepEqual(tok.encode(text), llama2cEncode(oracle, text), `tokens of ${JSON.stringify(text.slice(0, 60))}`);
  }
  assert.equal(tok.decode(tok.encode('A café, 42 times.')), 'A café, 42 times.');
});

test('reordering wq rows turns interleaved RoPE into Hugging Face rotate-half', () => {
  // llama2.c rotates pairs (2i, 2i+1) of q = W x by angle p * theta^(-2i/d).
  const heads = 2;
  const d = 8;
  const dim = heads * d;
  const W = randn([dim, 5], 1);
  const x = randn([5], 2);
  const q = (w: Float32Array) => Array.from({ length: dim }, (_, r) => Array.from({ length: 5 }, (_, c) => w[r * 5 + c]! * x.data[c]!).reduce((a, b) => a + b));
  const pos = 3;
  const interleaved = q(W.data);
  for (let h = 0; h < heads; h++) for (let i = 0; i < d / 2; i++) {
    const a = pos / 10000 ** ((2 * i) / d);
    const [x0, x1] = [interleaved[h * d + 2 * i]!, interleaved[h * d + 2 * i + 1]!];
    interleaved[h * d + 2 * i] = x0 * Math.cos(a) - x1 * Math.sin(a);
    interleaved[h * d + 2 * i + 1] = x0 * Math.sin(a) + x1 * Math.cos(a);
  }
  const permuted = q(permuteForRotateHalf(W.data, heads, dim, 5));
  const hf = rope(Tensor.fromArray(permuted, [heads, 1, d]), { positionOffset: pos }).data;
  // rotate-half output is interleaved output with each head's rows permuted the same way
  assertClose(hf, permuteForRotateHalf(Float32Array.from(interleaved), heads, dim, 1), 'rotated q', 1e-5, 1e-5);
});

test('a file that is not a llama2.c checkpoint is refused with its problem named', () => {
  const p = join(mkdtempSync(join(tmpdir(), 'giftjs-l2c-')), 'bad.bin');
  writeFileSync(p, Buffer.alloc(10));
  assert.throws(() => readLlama2cCheckpoint(p), /bad\.bin: too short for a llama2\.c header/);
  const header = Buffer.alloc(28 + 16);
  [64, 172, 5, 8, 4, 512, 512].forEach((v, i) => header.writeInt32LE(v, i * 4));
  writeFileSync(p, header);
  assert.throws(() => readLlama2cCheckpoint(p), /bad\.bin: file ends inside token_embedding/);
});

/** A synthetic v0 checkpoint (random values, an unshared classifier when `vocab` < 0) at `path`; its bytes. */
function writeSyntheticLlama2c(path: string, [dim, hidden, layers, heads, kvHeads, vocab, seqLen]: number[]): Buffer {
  const v = Math.abs(vocab!);
  const kvDim = (kvHeads! * dim!) / heads!;
  const floats = v * dim! + layers! * (2 * dim! + 2 * dim! * dim! + 2 * kvDim * dim! + 3 * hidden! * dim!) + dim! + seqLen! * (dim! / heads!) + (vocab! < 0 ? v * dim! : 0);
  const buf = Buffer.alloc(28 + 4 * floats);
  [dim, hidden, layers, heads, kvHeads, vocab, seqLen].forEach((x, i) => buf.writeInt32LE(x!, 4 * i));
  const values = new Float32Array(buf.buffer, buf.byteOffset + 28, floats);
  for (let i = 0; i < floats; i++) values[i] = Math.sin(i * 0.37) * 0.1;
  writeFileSync(path, buf);
  return buf;
}

test('a llama2.c checkpoint is converted a tensor at a time: refused only when its largest tensor would pass the budget', () => {
  // dim 256, hidden 688, 4 layers, 8 heads (4 for k and v), vocabulary 4096 with its own classifier, 64 positions (about 21 MB).
  const work = mkdtempSync(join(tmpdir(), 'giftjs-l2c-budget-'));
  const path = join(work, 'model.bin');
  const buf = writeSyntheticLlama2c(path, [256, 688, 4, 8, 4, -4096, 64]);
  const rss = process.memoryUsage().rss;
  // The largest tensor, the embedding (4096 x 256 float32, 4 MB), must fit beside what the process holds.
  assert.throws(() => convertLlama2c(path, null, join(work, 'refused'), { bytes: rss + 2e6, source: 'a test budget' }),
    /model\.bin: converting this llama2\.c checkpoint holds one tensor at a time, the largest \(model\.embed_tokens\.weight\) about 4 MB, and this process may use \d+ MB \(a test budget\), \d+ MB of it in use; nothing was read/);
  // Half the file is enough (the whole file had been read first: twice the file was needed).
  const { config } = convertLlama2c(path, null, join(work, 'out'), { bytes: rss + buf.length / 2, source: 'a test budget' });
  assert.equal(config.num_hidden_layers, 4);
  // What was written is what the whole-file reader makes of the checkpoint, name by name and value by value.
  const { tensors } = readLlama2cCheckpoint(path);
  const written = SafetensorsFile.open(join(work, 'out', 'model.safetensors'));
  try {
    assert.deepEqual([...written.tensors.keys()].sort(), [...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      const read = written.readTensor(name);
      assert.deepEqual(read.shape, t.shape, name);
      assert.deepEqual(read.data, t.data, name);
    }
  } finally {
    written.close();
  }
});

test('converting a llama2.c checkpoint holds about its largest tensor, measured: not the file', () => {
  // About 240 MB: dim 1024, hidden 2816, 4 layers, 16 heads, vocabulary 8192 (the embedding, 34 MB, the largest tensor).
  const work = mkdtempSync(join(tmpdir(), 'giftjs-l2c-peak-'));
  const path = join(work, 'model.bin');
  const size = writeSyntheticLlama2c(path, [1024, 2816, 4, 16, 16, 8192, 64]).length;
  const script = `import { convertLlama2c } from ${JSON.stringify(join(ROOT, 'dist/src/io/llama2c.js'))};
import { peakResidentBytes } from ${JSON.stringify(join(ROOT, 'dist/src/io/system_memory.js'))};
const before = peakResidentBytes();
convertLlama2c(${JSON.stringify(path)}, null, ${JSON.stringify(join(work, 'out'))});
console.log(JSON.stringify({ before, after: peakResidentBytes() }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { before, after } = JSON.parse(r.stdout) as { before: number; after: number };
  // The whole-file reader's conversion rose by about twice the file (497 MB here, measured; 49 MB now).
  rmSync(work, { recursive: true, force: true }); // (half a gigabyte of scratch)
  assert.ok(after - before < 0.4 * size, `peak rose ${Math.round((after - before) / 1e6)} MB converting a ${Math.round(size / 1e6)} MB checkpoint`);
});
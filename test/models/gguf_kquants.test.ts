// GGUF files in the block types most downloaded models use (Q4_K_M mixes Q4_K, Q5_K and Q6_K;
// older files Q4_1, Q5_0, Q5_1; Q2_K and Q3_K in the small mixes): a llama file with a matrix in each
// (tools/make_gguf_kquant_fixtures.py) reads value for value as llama.cpp's own Python package
// dequantizes it, and loads with the logits and greedy tokens transformers 5.17 computes from it.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
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

const DIR = fileURLToPath(new URL('../../../test/fixtures/gguf', import.meta.url));
const FILE = join(DIR, 'tiny-kquants.gguf');
interface Reference {
  sample_stride: number;
  tensors: Record<string, { type: string; shape: number[]; values: number[] }>;
  text: string; ids: number[]; logits: number[]; prompt: string; greedy: number[];
}
const REF = JSON.parse(readFileSync(join(DIR, 'tiny-kquants.json'), 'utf8')) as Reference;

process.env.GIFTJS_CACHE = mkdtempSync(join(tmpdir(), 'giftjs-gguf-cache-'));

test('every block type reads value for value as the gguf package dequantizes it', () => {
  const file = GgufFile.open(FILE);
  try {
    const types = new Set<string>();
    for (const [name, ref] of Object.entries(REF.tensors)) {
      const info = file.info(name);
      assert.equal(info.typeName, ref.type, name);
      assert.deepEqual(info.shape, ref.shape, name);
      const values = new Float32Array(ref.shape[0]! * ref.shape[1]!);
      file.readInto(name, values);
      const sample = ref.values.map((_, k) => values[k * REF.sample_stride]!);
      const first = sample.findIndex((v, k) => v !== Math.fround(ref.values[k]!));
      assert.equal(first, -1, `${name} (${ref.type}): value ${first * REF.sample_stride} is ${sample[first]}, the gguf package's ${ref.values[first]}`);
      types.add(ref.type);
    }
    assert.deepEqual([...types].sort(), ['Q2_K', 'Q3_K', 'Q4_0', 'Q4_1', 'Q4_K', 'Q5_0', 'Q5_1', 'Q5_K', 'Q6_K', 'Q8_0']);
  } finally {
    file.close();
  }
});

test('a k-quant llama GGUF loads with transformers\' token ids, logits and greedy tokens', () => {
  const { dir, note } = ggufModelFolder(FILE);
  assert.match(note, /GGUF \(F32, Q2_K, Q3_K, Q4_0, Q4_1, Q4_K, Q5_0, Q5_1, Q5_K, Q6_K, Q8_0\)/);
  const tokenizer = Tokenizer.fromFolder(dir);
  assert.deepEqual(tokenizer.encode(REF.text), REF.ids);
  const model = loadCausalLM(dir);
  const logits = noGrad(() => model.forward(REF.ids, 1, REF.ids.length).toFloat32Array());
  assertClose(logits, Float32Array.from(REF.logits), 'logits', 1e-5, 1e-5);
  assert.deepEqual(generate(model, tokenizer.encode(REF.prompt), { maxNewTokens: 10 }), REF.greedy, 'greedy tokens');
});

// `gift bench generate --llama-cpp`: the benchmark's model written as a GGUF llama.cpp decodes
// (node-llama-cpp 3.21.1, installed apart by .ci/run). Speeds are printed, never asserted; what is
// checked is that llama.cpp loads and decodes the file in the matching block type, and that the
// temporary file is gone afterwards.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { llamaCppEntry, llamaCppGeneration } from '../../src/bench/llama_cpp_generation.js';
import { randomBenchModel } from '../../src/bench/random_model.js';

const skip = existsSync(llamaCppEntry()) ? false : `node-llama-cpp 3.21.1 is not installed at ${llamaCppEntry()} (.ci/run installs it)`;

test('llama.cpp decodes the benchmark model as Q4_0 and Q8_0, leaving no file behind', { skip }, async () => {
  const leftovers = () => readdirSync(tmpdir()).filter((f) => f.startsWith('giftjs-bench-gguf-')).sort();
  const before = leftovers();
  for (const dtype of ['int4', 'int8'] as const) {
    const model = randomBenchModel('smollm2-135m', dtype, 2);
    const r = await llamaCppGeneration(model, dtype, [1, 5, 9, 200, 3000], 3, 2);
    assert.equal(r.type, dtype === 'int4' ? 'q4_0' : 'q8_0');
    assert.ok(Number.isFinite(r.tokensPerSecond) && r.tokensPerSecond > 0, `${dtype}: ${r.tokensPerSecond} tokens/s`);
    assert.ok(Number.isFinite(r.prefillTokensPerSecond) && r.prefillTokensPerSecond > 0, `${dtype}: prefill ${r.prefillTokensPerSecond} tokens/s`);
  }
  assert.deepEqual(leftovers(), before);
});

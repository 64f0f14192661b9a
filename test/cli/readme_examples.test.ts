// The README's library examples run as printed: each ```ts block of "Use the library", with its
// import of 'giftjs' pointed at this build, in a folder holding what it names (./my-model, a small
// Llama-shaped folder; train.jsonl).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeSyntheticLlama } from '../../src/testing/synthetic_llama.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function libraryExamples(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use the library'), readme.indexOf('\n## ', readme.indexOf('## Use the library') + 3));
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

test('the README\'s library examples run as printed', () => {
  const examples = libraryExamples();
  assert.ok(examples.length >= 2, 'the section holds its examples');
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-readme-'));
  // Wide enough for the example's rank 64; the fixture's tokenizer.
  writeSyntheticLlama(join(dir, 'my-model'), { hidden: 128, intermediate: 256, layers: 2, heads: 4, kvHeads: 2, vocab: 96, tied: true }, 'F32', { tokenizerFrom: join(ROOT, 'test/fixtures/llama/llama3-scaled-tied') });
  writeFileSync(join(dir, 'train.jsonl'), Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `a line of text number ${i}` })).join('\n') + '\n');
  examples.forEach((code, i) => {
    const file = join(dir, `example-${i}.mjs`);
    writeFileSync(file, code.replace(/from 'giftjs'/g, `from ${JSON.stringify(join(ROOT, 'dist/src/index.js'))}`));
    const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', env: { ...process.env, GIFTJS_NUM_THREADS: '1' } });
    assert.equal(r.status, 0, `example ${i}:\n${code}\n${r.stderr}`);
  });
  assert.ok(existsSync(join(dir, 'runs/gift/adapter/adapter_model.safetensors')), 'the first example saved its adapter');
});

test('the README\'s training line with mixing, packing and TensorBoard runs as printed', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const line = /^ {4}npx gift (train --model \.\/my-model --data a\.jsonl,b\.jsonl .*)$/m.exec(readme)?.[1];
  assert.ok(line, 'the README prints the line');
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-readme-mix-'));
  writeSyntheticLlama(join(dir, 'my-model'), { hidden: 32, intermediate: 64, layers: 2, heads: 4, kvHeads: 2, vocab: 96, tied: true }, 'F32', { tokenizerFrom: join(ROOT, 'test/fixtures/llama/llama3-scaled-tied') });
  for (const [name, n] of [['a.jsonl', 6], ['b.jsonl', 10]] as const) {
    writeFileSync(join(dir, name), Array.from({ length: n }, (_, i) => JSON.stringify({ text: `${name} says line ${i}` })).join('\n') + '\n');
  }
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), ...line.split(/\s+/)], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /mixed 16 training examples/);
  assert.match(r.stderr, /--pack: 16 examples in \d+ rows/);
  assert.ok(existsSync(join(dir, 'runs/mix/tensorboard')), 'event files written');
});

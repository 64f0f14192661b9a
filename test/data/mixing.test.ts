// Several training files mixed by weight: each gives round(weight x total) examples -- a seeded sample
// without repetition when it has enough, every example repeated and the rest sampled when it has not --
// the same for the same seed; and gift train says what it mixed and records the weights in config.yaml.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dataPaths, dataWeights, mixExamples } from '../../src/data/mixing.js';
import type { Example } from '../../src/data/examples.js';

const ex = (tag: number, n: number): Example[] => Array.from({ length: n }, (_, i) => ({ ids: Int32Array.from([tag, i]), labels: Int32Array.from([tag, i]) }));

test('each source gives its weight\'s share of all the examples, seeded', () => {
  const a = { path: 'a.jsonl', examples: ex(1, 10) };
  const b = { path: 'b.jsonl', examples: ex(2, 30) };
  const mixed = mixExamples([a, b], [0.7, 0.3], 0);
  const from = (tag: number) => mixed.examples.filter((e) => e.ids[0] === tag);
  assert.equal(mixed.examples.length, 40);
  assert.equal(from(1).length, 28, '0.7 x 40 from a file of 10: every example twice, 8 more');
  assert.equal(from(2).length, 12, '0.3 x 40 from a file of 30: a sample');
  assert.equal(new Set(from(2).map((e) => e.ids[1])).size, 12, 'sampled without repetition');
  assert.ok(ex(1, 10).every((e) => from(1).filter((m) => m.ids[1] === e.ids[1]).length >= 2), 'each of a\'s examples at least twice');
  assert.deepEqual(mixExamples([a, b], [0.7, 0.3], 0).examples, mixed.examples, 'the same seed mixes the same way');
  assert.notDeepEqual(mixExamples([a, b], [0.7, 0.3], 1).examples, mixed.examples, 'another seed samples otherwise');
  assert.throws(() => mixExamples([a, b], [0.7, 0.3], 0.5), /a random seed must be a whole number, got 0.5/);
  assert.match(mixed.summary[0]!, /a\.jsonl: 28 of 10 examples \(weight 0\.700, repeated\)/);
  assert.deepEqual(mixExamples([a, b], null, 0).examples.length, 40, 'no weights: joined');
  assert.throws(() => mixExamples([a, b], [1], 0), /mixing weights \(--data-weights\): 1 weights for 2 data files/);
  assert.throws(() => mixExamples([a, b], [0, 0], 0), /not all 0/);
  assert.throws(() => dataWeights('0.5,x'), /--data-weights must be numbers separated by commas/);
  assert.deepEqual(dataPaths('a.jsonl,b.jsonl', () => false), ['a.jsonl', 'b.jsonl']);
  assert.deepEqual(dataPaths('odd,name.jsonl', (p) => p === 'odd,name.jsonl'), ['odd,name.jsonl'], 'a file whose name has a comma');
});

test('gift train --data a,b --data-weights mixes, says so, and writes the weights to config.yaml', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-mix-'));
  const write = (name: string, n: number) => {
    writeFileSync(join(dir, name), Array.from({ length: n }, (_, i) => JSON.stringify({ text: `${name} line ${i}` })).join('\n') + '\n');
    return join(dir, name);
  };
  const a = write('a.jsonl', 4);
  const b = write('b.jsonl', 12);
  const out = join(dir, 'run');
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('../../../bin/gift.js', import.meta.url)), 'train', '--model', fileURLToPath(new URL('../../../test/fixtures/llama/llama-gqa', import.meta.url)),
    '--data', `${a},${b}`, '--data-weights', '0.5,0.5', '--out', out, '--max-steps', '2', '--rank', '4'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /mixed 16 training examples:\n {2}.*a\.jsonl: 8 of 4 examples \(weight 0\.500, repeated\)\n {2}.*b\.jsonl: 8 of 12 examples \(weight 0\.500, a seeded sample\)/);
  const config = readFileSync(join(out, 'config.yaml'), 'utf8');
  assert.match(config, /^data-weights: 0\.5,0\.5$/m);
});

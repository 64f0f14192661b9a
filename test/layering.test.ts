// The README's layout holds: each layer of src/ imports only from the layers below it (formats <-
// backend <- tensor <- ops <- nn <- models, peft <- data, train, eval, generate <- cli), so a change
// low down never needs what is built on it. Modules outside the ladder (io, errors, testing, ...)
// are not ranked.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const RANK: Record<string, number> = { formats: 0, backend: 1, tensor: 2, ops: 3, nn: 4, models: 5, peft: 5, data: 6, train: 6, eval: 6, generate: 6, cli: 7 };

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

const layerOf = (path: string) => relative(SRC, path).split(/[\\/]/)[0]!;

test('each layer of src/ imports only from the layers below it', () => {
  const upward: string[] = [];
  let imports = 0;
  for (const file of sources(SRC)) {
    const from = layerOf(file);
    if (!(from in RANK)) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      imports++;
      const to = layerOf(normalize(join(dirname(file), m[1]!)));
      if (to in RANK && RANK[to]! > RANK[from]!) upward.push(`${relative(SRC, file)} imports ${m[1]} (${from} -> ${to})`);
    }
  }
  assert.ok(imports > 500, `only ${imports} imports were read: the walk missed src/`);
  assert.deepEqual(upward, []);
});

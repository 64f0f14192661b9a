// scripts/run-tests.mjs runs the compiled tests whose source is still in test/: tsc never deletes what it
// wrote, so a test renamed or removed in a working tree had gone on running from its old build (a renamed
// test twice, under both names), passing or failing for code that no longer exists.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../../scripts/run-tests.mjs', import.meta.url));
// Without the runner's own NODE_TEST_CONTEXT: the nested run reports as a terminal run does.
const ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_TEST_CONTEXT'));

test('the suite leaves out, by name, a compiled test whose source is gone, and runs the rest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-run-tests-'));
  for (const sub of ['scripts', 'dist/test/deep/er', 'test/deep/er']) mkdirSync(join(dir, sub), { recursive: true });
  copyFileSync(SCRIPT, join(dir, 'scripts/run-tests.mjs'));
  const testFile = (name: string, body: string) => writeFileSync(join(dir, 'dist/test', name), `import { test } from 'node:test';\ntest(${JSON.stringify(name)}, () => { ${body} });\n`);
  testFile('deep/er/kept.test.js', '');
  testFile('top.test.js', '');
  testFile('deep/gone.test.js', "throw new Error('a stale test ran');");
  writeFileSync(join(dir, 'test/deep/er/kept.test.ts'), '');
  writeFileSync(join(dir, 'test/top.test.ts'), '');
  const r = spawnSync(process.execPath, ['scripts/run-tests.mjs'], { cwd: dir, encoding: 'utf8', env: ENV });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stderr, /run-tests: left out 1 compiled test\(s\) whose source is gone from test\/ \(delete dist\/ and build again to drop them\): dist\/test\/deep\/gone\.test\.js/);
  assert.match(r.stdout, /✔ deep\/er\/kept\.test\.js/);
  assert.match(r.stdout, /✔ top\.test\.js/);
  assert.doesNotMatch(r.stdout, /a stale test ran|gone\.test\.js/);
  // A file named on the command line runs as given, stale or not.
  const named = spawnSync(process.execPath, ['scripts/run-tests.mjs', 'dist/test/deep/gone.test.js'], { cwd: dir, encoding: 'utf8', env: ENV });
  assert.notEqual(named.status, 0);
  assert.match(named.stdout, /a stale test ran/);
});

#!/usr/bin/env node
// Runs the test suite (node --test over dist/test/) with TMPDIR pointing at a fresh folder of its own,
// removed when the run ends, pass or fail: the tests' temporary folders (about a thousand a run) never
// pile up in the machine's /tmp. Extra arguments go to node --test (a file or folder instead of dist/test/).
// The whole suite is the compiled tests whose source is still in test/: tsc never deletes what it wrote,
// so a test renamed or removed in a working tree would otherwise go on running from its old build.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

/** dist/test's compiled tests whose .ts source exists; the others are named on stderr and left out. */
function suiteFiles() {
  const walk = (sub) => readdirSync(join('dist/test', sub), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(sub, e.name)) : [join(sub, e.name)]));
  const compiled = walk('').filter((f) => f.endsWith('.test.js')).sort();
  const stale = compiled.filter((f) => !existsSync(join('test', f.replace(/\.js$/, '.ts'))));
  if (stale.length > 0) console.error(`run-tests: left out ${stale.length} compiled test(s) whose source is gone from test/ (delete dist/ and build again to drop them): ${stale.map((f) => relative('.', join('dist/test', f))).join(', ')}`);
  return compiled.filter((f) => !stale.includes(f)).map((f) => join('dist/test', f));
}

const dir = mkdtempSync(join(tmpdir(), 'giftjs-tests-'));
const targets = process.argv.slice(2);
const child = spawn(process.execPath, ['--test', '--test-reporter=spec', ...(targets.length ? targets : suiteFiles())], {
  stdio: 'inherit', env: { ...process.env, TMPDIR: dir },
});
// Ctrl-C reaches the test runner through the terminal's process group; the folder goes when it exits.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1));
});

#!/usr/bin/env node
// Runs the test suite (node --test over dist/test/) with TMPDIR pointing at a fresh folder of its own,
// removed when the run ends, pass or fail: the tests' temporary folders (about a thousand a run) never
// pile up in the machine's /tmp. Extra arguments go to node --test (a file or folder instead of dist/test/).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'giftjs-tests-'));
const targets = process.argv.slice(2);
const child = spawn(process.execPath, ['--test', '--test-reporter=spec', ...(targets.length ? targets : ['dist/test/'])], {
  stdio: 'inherit', env: { ...process.env, TMPDIR: dir },
});
// Ctrl-C reaches the test runner through the terminal's process group; the folder goes when it exits.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1));
});

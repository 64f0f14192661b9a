// The fuzz watchdog: a case that never returns is ended, naming it; a case that returns is left alone,
// and the watcher never keeps a process alive.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const WATCHDOG = fileURLToPath(new URL('./watchdog.js', import.meta.url));

/** Runs a script in a child Node (ESM) with the watchdog imported as `watchCase`. */
function run(body: string): { status: number | null; signal: NodeJS.Signals | null; stderr: string } {
  const script = `import { watchCase } from ${JSON.stringify(WATCHDOG)};\n${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, signal: r.signal, stderr: r.stderr };
}

test('a case that never returns is ended past its limit, its label on stderr', () => {
  const r = run(`watchCase('gguf case-7 (its files: /tmp/x)', 1);\nfor (;;) {}`);
  assert.equal(r.signal, 'SIGKILL');
  assert.match(r.stderr, /^fuzz: a case is still running after 1 s; the process is ended\. The case: gguf case-7 \(its files: \/tmp\/x\)$/m);
});

test('cases that return are left alone, however long the process runs, and the watcher does not keep it alive', () => {
  const r = run(`for (let i = 0; i < 3; i++) { const done = watchCase('quick ' + i, 1); done(); await new Promise((ok) => setTimeout(ok, 800)); }\nconsole.error('finished');`);
  assert.equal(r.signal, null);
  assert.equal(r.status, 0);
  assert.match(r.stderr, /^finished$/m);
  assert.doesNotMatch(r.stderr, /still running/);
});

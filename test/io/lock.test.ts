// Run-folder and output locks: a stale lock found by several processes at once is taken by exactly
// one of them (the window between judging it stale and taking it over is held open with
// GIFTJS_FAULT_DELAY, as a slow disk or a descheduled process would); a lock whose pid now runs
// another program (its start time differs) or ran before a reboot is stale; a live one is refused.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { acquireLock } from '../../src/io/lock.js';
import { ownIdentity, processStartTime } from '../../src/io/process_identity.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GIFT = join(ROOT, 'bin/gift.js');
const MODEL = join(ROOT, 'test/fixtures/llama/llama3-scaled-tied');
const LOCK_MODULE = join(ROOT, 'dist/src/io/lock.js');

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; err: string; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, GIFTJS_NUM_THREADS: '1', ...env } });
    let err = '';
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, err, out }));
  });
}

const stale = (pid: number) => `${JSON.stringify({ pid, start: '1', boot: null, nonce: '00112233aabbccdd' })}\n`;

test('processStartTime reads /proc (the identity a lock records)', { skip: existsSync('/proc/self/stat') ? false : 'no /proc on this system' }, () => {
  const me = ownIdentity();
  assert.equal(me.pid, process.pid);
  assert.match(me.start ?? '', /^\d+$/);
  assert.equal(processStartTime(process.pid), me.start);
  assert.equal(processStartTime(2 ** 22 + 12345), null, 'no such process');
});

test('a stale lock found by four processes at once is taken by one; the others are refused while it holds it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-lockrace-'));
  const lock = join(dir, '.giftjs-lock');
  writeFileSync(lock, stale(999_999_999));
  // Each takes the lock, says so, holds it 1.5 s, releases it.
  const holder = `import { acquireLock } from ${JSON.stringify(LOCK_MODULE)};
    try { const release = acquireLock(${JSON.stringify(lock)}, 'the folder'); console.log('took'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500); release(); }
    catch (e) { console.log('refused: ' + e.message); }`;
  const results = await Promise.all(Array.from({ length: 4 }, () => run(['--input-type=module', '-e', holder], { GIFTJS_FAULT_DELAY: 'lock-break:400' })));
  const took = results.filter((r) => r.out.startsWith('took'));
  const refused = results.filter((r) => r.out.startsWith('refused'));
  assert.equal(took.length, 1, results.map((r) => r.out + r.err).join('\n'));
  assert.equal(refused.length, 3);
  for (const r of refused) assert.match(r.out, /the folder is in use by another giftjs process \(pid \d+, lock /);
  assert.deepEqual(readdirSync(dir), [], 'the winner released the lock; no claim or temporary file is left');
});

test('two gift train --resume on a folder with a stale lock: one trains, the other is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-trainrace-'));
  const data = join(dir, 'train.jsonl');
  writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ text: `line number ${i} of the data` })).join('\n') + '\n');
  const out = join(dir, 'run');
  const args = (steps: number) => [GIFT, 'train', '--model', MODEL, '--data', data, '--out', out, '--max-steps', String(steps), '--batch-size', '4', '--rank', '2', ];
  const first = await run([...args(1), '--save-every', '1'], {});
  assert.equal(first.code, 0, first.err);
  writeFileSync(join(out, '.giftjs-lock'), stale(999_999_999)); // as a kill leaves it
  // 600 updates keep the winner in the folder for a few seconds, well past the loser's arrival.
  const [a, b] = await Promise.all([0, 1].map(() => run([...args(600), '--resume', '--save-every', '600'], { GIFTJS_FAULT_DELAY: 'lock-break:400' })));
  const codes = [a!.code, b!.code].sort();
  assert.deepEqual(codes, [0, 1], `${a!.err}\n---\n${b!.err}`);
  const loser = a!.code === 1 ? a! : b!;
  assert.match(loser.err, /the run folder .* is in use by another giftjs process/);
  const steps = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, Array.from({ length: 600 }, (_, i) => i + 1), 'one run wrote the log');
});

test('a lock is stale when its pid runs another program or ran before a reboot; refused when its holder runs', { skip: existsSync('/proc/self/stat') ? false : 'no /proc on this system' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'giftjs-lockid-'));
  const lock = join(dir, 'x.lock');
  const me = ownIdentity();
  // This process's pid with another start time: the pid was reused.
  writeFileSync(lock, stale(process.pid));
  acquireLock(lock, 'x')();
  // Another boot.
  writeFileSync(lock, `${JSON.stringify({ ...me, boot: '00000000-0000-0000-0000-000000000000', nonce: '0123456789abcdef' })}\n`);
  acquireLock(lock, 'x')();
  // This very process, holding it in another call: refused, as a second run in one process must be.
  const release = acquireLock(lock, 'x');
  assert.throws(() => acquireLock(lock, 'x'), /x is in use by another giftjs process \(pid \d+/);
  release();
  assert.ok(!existsSync(lock));
  // A file that names no holder: refused while young (a writer may be filling it), taken when old.
  writeFileSync(lock, 'garbage');
  assert.throws(() => acquireLock(lock, 'x'), /lock file giftjs cannot read, less than 10 s old/);
  const old = new Date(Date.now() - 60_000);
  utimesSync(lock, old, old);
  acquireLock(lock, 'x')();
});

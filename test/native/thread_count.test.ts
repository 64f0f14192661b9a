// setNumThreads: a count that is not a whole number from 1 to MAX_THREADS is refused by name (the
// addon had taken NaN and -1 as 1, 2.5 as 2, and ended the process at 1e9); a count the system
// will not start is reported and the pool keeps the count it had.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getNumThreads, MAX_THREADS, nativeAddon, setNumThreads } from '../../src/backend/index.js';

const skip = nativeAddon() ? false : 'the native addon is not built on this machine';

test('setNumThreads refuses a count that is not a whole number from 1 to MAX_THREADS, and keeps the one it had', { skip }, () => {
  const before = getNumThreads();
  for (const n of [NaN, 2.5, 0, -1, MAX_THREADS + 1, 1e9, Infinity]) {
    assert.throws(() => setNumThreads(n), new RegExp(`setNumThreads: the thread count must be a whole number from 1 to ${MAX_THREADS}, got ${n}`));
    assert.equal(getNumThreads(), before);
  }
  setNumThreads(3);
  assert.equal(getNumThreads(), 3);
  setNumThreads(before);
});

test('threads the system will not start are reported, and the pool keeps its count (not an uncaught C++ exception)', { skip: skip || (process.platform !== 'linux' ? 'ulimit -v is how this test limits thread stacks: Linux only' : false) }, (t) => {
  // Under a 3 GB address-space limit, 1000 threads' 8 MB stacks cannot all be mapped.
  const index = fileURLToPath(new URL('../../src/backend/index.js', import.meta.url));
  const script = `const g = await import(${JSON.stringify(index)}); g.setNumThreads(2);
try { g.setNumThreads(1000); console.log('started 1000'); } catch (e) { console.log(e.message); }
console.log('threads now', g.getNumThreads());`;
  const r = spawnSync('bash', ['-c', `ulimit -v 3000000 && exec "${process.execPath}" --input-type=module -e "$0"`, script], { encoding: 'utf8' });
  if (r.stdout.includes('started 1000')) return t.skip('this system mapped 1000 thread stacks in 3 GB of address space');
  assert.equal(r.status, 0, `the child ended with ${r.status} ${r.signal ?? ''}: ${r.stderr}`);
  assert.match(r.stdout, /setNumThreads: could not start 1000 threads \(\d+ started: .+\); the pool keeps 2/);
  assert.match(r.stdout, /threads now 2/);
});

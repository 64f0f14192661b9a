// The fuzz watchdog's thread (watchdog.ts): it sees a case begin through shared memory, and ends the
// process when the same case is still running `limitMs` later, writing the case to stderr first.
import { writeSync } from 'node:fs';
import { workerData } from 'node:worker_threads';

const { limitMs } = workerData as { limitMs: number };
const state = new Int32Array(workerData.state as SharedArrayBuffer);
const label = new Uint8Array(workerData.label as SharedArrayBuffer);
let seen = -1;
let since = Date.now();
setInterval(() => {
  const begun = Atomics.load(state, 0);
  if (Atomics.load(state, 1) === 0 || begun !== seen) {
    seen = begun;
    since = Date.now();
    return;
  }
  if (Date.now() - since < limitMs) return;
  const text = Buffer.from(label.subarray(0, Atomics.load(state, 2))).toString('utf8');
  writeSync(2, `fuzz: a case is still running after ${limitMs / 1000} s; the process is ended. The case: ${text}\n`);
  process.kill(process.pid, 'SIGKILL');
}, 250);

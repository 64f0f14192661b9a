// A case that never returns cannot fail itself: runCase times a case when it ends, and a loop over a
// size a hostile header declares (a GGUF's block_count of 134,217,730, met on 2026-12-06) never ends,
// so `npm run fuzz` sat silent past its minutes and the CI budget would have run out the same way.
// A thread of its own (watchdog_thread.ts) watches the running case through shared memory and, past
// its limit, writes the case to stderr and ends the process; the case's files stay in the sandbox,
// which no one disposes.
import { Worker } from 'node:worker_threads';

const LABEL_BYTES = 4096;
/** [cases begun, whether one is running, its label's length in bytes] */
const state = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
const label = new Uint8Array(new SharedArrayBuffer(LABEL_BYTES));
let watcher: Worker | null = null;

/** Marks a case as running (the watcher starts on the first call, whose limitSeconds holds for every case); returns the function that marks it done. */
export function watchCase(text: string, limitSeconds: number): () => void {
  if (!watcher) {
    watcher = new Worker(new URL('./watchdog_thread.js', import.meta.url), {
      workerData: { state: state.buffer, label: label.buffer, limitMs: limitSeconds * 1000 },
      execArgv: [], // none of the process's flags (--input-type, a loader) apply to the watcher's file
    });
    watcher.unref(); // never keeps the process alive
  }
  const bytes = Buffer.from(text, 'utf8').subarray(0, LABEL_BYTES);
  label.set(bytes);
  Atomics.store(state, 2, bytes.length);
  Atomics.add(state, 0, 1);
  Atomics.store(state, 1, 1);
  return () => Atomics.store(state, 1, 0);
}

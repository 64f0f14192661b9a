// Fault injection for the crash-safety tests: with GIFTJS_FAULT_AT=N in the environment, the Nth
// filesystem step of an atomic write (a chunk written, an fsync, a rename, a removal) kills the
// process with SIGKILL, as a power cut or `kill -9` would. GIFTJS_FAULT_LOG=FILE appends each
// step's kind to FILE, so a test knows how many steps a command takes. GIFTJS_FAULT_DELAY=NAME:MS
// makes the point NAME sleep MS milliseconds (a race's window held open for a test). Unset, a step
// or a point costs a test. GIFTJS_FAULT_ERRNO=NAME:CODE makes the point NAME fail as the system
// would with CODE (ENOSPC: a full disk while the log is appended).
import { appendFileSync } from 'node:fs';

const limit = Number(process.env.GIFTJS_FAULT_AT ?? 0);
const log = process.env.GIFTJS_FAULT_LOG ?? '';
let steps = 0;

export type FaultStep = 'write' | 'fsync' | 'rename' | 'remove';

export function faultPoint(step: FaultStep): void {
  if (limit <= 0 && !log) return;
  steps++;
  if (log) appendFileSync(log, `${step}\n`);
  if (steps === limit) process.kill(process.pid, 'SIGKILL');
}

const delay = /^([\w-]+):(\d+)$/.exec(process.env.GIFTJS_FAULT_DELAY ?? '');

/** Sleeps here when GIFTJS_FAULT_DELAY names this point (see above). */
export function faultDelay(point: string): void {
  if (delay && delay[1] === point) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(delay[2]));
}

const errno = /^([\w-]+):(E[A-Z]+)$/.exec(process.env.GIFTJS_FAULT_ERRNO ?? '');

/** Throws the system error GIFTJS_FAULT_ERRNO names for this point (see above). */
export function faultErrno(point: string): void {
  if (errno && errno[1] === point) throw Object.assign(new Error(`${errno[2]}: injected at ${point}`), { code: errno[2] });
}

// The environment variables that switch giftjs's own behaviour, read in one place so that a value
// giftjs does not understand is refused by name instead of silently meaning "on" (GIFTJS_MMAP=false
// used to leave mapping on) or "one thread" (GIFTJS_NUM_THREADS=four used to run on one).
import { GiftjsError } from './errors.js';

/** The switches that are on unless set to 0. */
export type EnvironmentSwitch = 'GIFTJS_MMAP' | 'GIFTJS_HUGE_PAGES';

/** A switch: on when unset, empty or 1, off when 0; any other value is refused. */
export function environmentSwitch(name: EnvironmentSwitch): boolean {
  const value = process.env[name];
  if (value === undefined || value === '' || value === '1') return true;
  if (value === '0') return false;
  throw new GiftjsError(`${name}=${value}: set it to 0 (off) or 1 (on, the default), or leave it unset`);
}

/** More threads than llama.cpp's own limit (512) twice over: a typo, refused before any starts. */
export const MAX_THREADS = 1024;

/**
 * GIFTJS_NUM_THREADS as the kernels will read it: unset, or a whole number of threads from 1 to
 * MAX_THREADS, the bound setNumThreads keeps (it had allowed 9999 here, which the kernels then started).
 */
export function checkThreadCount(): void {
  const value = process.env.GIFTJS_NUM_THREADS;
  if (value === undefined || value === '' || (/^[1-9][0-9]{0,3}$/.test(value) && Number(value) <= MAX_THREADS)) return;
  throw new GiftjsError(`GIFTJS_NUM_THREADS=${value}: set it to a whole number of kernel threads from 1 to ${MAX_THREADS}, or leave it unset (one per core)`);
}

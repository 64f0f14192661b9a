// Temporary files beside a destination: `.NAME.tmp-<pid>-<random>`, so that a writer killed
// mid-way leaves a name that says whose it was, and the next writer of NAME removes what writers
// that no longer run left. Atomic writes (atomic.ts) and lock files (lock.ts) share the rule.
import { readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { processRuns } from './process_identity.js';

/** A fresh temporary name beside `path`, naming this process. */
export function temporaryName(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
}

/** Removes the temporaries of `path` whose writers no longer run. */
export function removeStaleTemporaries(path: string): void {
  const prefix = `.${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const pid = Number(n.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processRuns({ pid })) rmSync(join(dirname(path), n), { recursive: true, force: true });
  }
}

// Who a process is, beyond its pid: a pid is reused by the system, so a lock or a temporary file
// names its writer by pid, start time (clock ticks since boot, /proc/<pid>/stat's 22nd field) and
// boot id. A writer whose pid now runs another program, or ran before a reboot, is gone. Where
// /proc is absent (not Linux), only the pid can be asked.
import { readFileSync } from 'node:fs';

export interface ProcessIdentity {
  pid: number;
  /** Start time in clock ticks since boot, or null where the system does not tell. */
  start: string | null;
  /** The kernel's boot id, or null where the system does not tell. */
  boot: string | null;
}

function readTrimmed(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** A process's start time from /proc/<pid>/stat, or null (no such process, or no /proc). */
export function processStartTime(pid: number): string | null {
  const stat = readTrimmed(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // "pid (command) state ppid ...": the command may hold spaces and parentheses, so fields are
  // counted after the last ')'; the start time is field 22, the 20th after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

let bootId: string | null | undefined;
function currentBootId(): string | null {
  if (bootId === undefined) bootId = readTrimmed('/proc/sys/kernel/random/boot_id');
  return bootId;
}

let own: ProcessIdentity | undefined;
/** This process. */
export function ownIdentity(): ProcessIdentity {
  own ??= { pid: process.pid, start: processStartTime(process.pid), boot: currentBootId() };
  return own;
}

function pidAnswers(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the process so identified still runs (its pid alone is asked when start or boot are unknown). */
export function processRuns(who: { pid: number; start?: string | null; boot?: string | null }): boolean {
  if (!Number.isInteger(who.pid) || who.pid <= 0) return false;
  const boot = currentBootId();
  if (who.boot && boot && who.boot !== boot) return false; // written before a reboot
  if (who.start && ownIdentity().start !== null) return processStartTime(who.pid) === who.start;
  return pidAnswers(who.pid);
}

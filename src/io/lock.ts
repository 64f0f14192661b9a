// Exclusive lock files, safe when several processes find the same stale lock at once.
//
// A lock is a file created exclusively (a complete file linked into place, so a reader never sees
// half of one) that names its holder: pid, start time, boot id and a random nonce. A lock whose
// holder no longer runs is stale. Removing a stale lock is the race: two processes that both judged
// it stale must not both remove and re-create, or the second removes the first's fresh lock and
// both go on. So a stale lock is removed only by the one process that first creates its claim file
// `<lock>.break-<nonce>` (exclusively, named after that very holder): the claimant removes the lock
// if it still holds that holder (it cannot have changed: the holder is gone, and no one else may
// remove it), drops the claim, and competes for the lock like everyone else. A claimant killed
// mid-way leaves a claim whose own holder is gone; it is broken the same way.
import { closeSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { GiftjsError } from '../errors.js';
import { faultDelay, faultErrno } from './fault_injection.js';
import { reportingFsErrors } from './fs_errors.js';
import { ownIdentity, processRuns } from './process_identity.js';
import { removeStaleTemporaries, temporaryName } from './temporary_files.js';

/** What a lock file says of its holder. `nonce` tells two holds of one process apart. */
interface LockHolder {
  pid: number;
  start: string | null;
  boot: string | null;
  nonce: string;
}

/** A lock file as read: its holder (null when the file does not say), and its raw text, which identifies this hold. */
type LockRead = { holder: LockHolder | null; raw: string } | 'gone';

/** Blocks this thread (made when first needed: a browser page without cross-origin isolation has no SharedArrayBuffer, and never locks). */
function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function readLock(path: string): LockRead {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw new GiftjsError(`cannot read the lock ${path}: ${(err as Error).message}`);
  }
  const text = raw.trim();
  if (/^\d+$/.test(text)) return { holder: { pid: Number(text), start: null, boot: null, nonce: `pid${text}` }, raw }; // an earlier giftjs's lock: a pid alone
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (Number.isInteger(h.pid) && typeof h.nonce === 'string' && /^[0-9a-f]{8,32}$/.test(h.nonce)) {
      return { holder: { pid: h.pid!, start: typeof h.start === 'string' ? h.start : null, boot: typeof h.boot === 'string' ? h.boot : null, nonce: h.nonce }, raw };
    }
  } catch {
    // not a lock giftjs wrote: judged below
  }
  return { holder: null, raw };
}

/**
 * Creates `path` holding `text`, failing (false) when it exists. The text is written to a
 * temporary file first and hard-linked into place, so the lock is never seen empty.
 */
function createExclusive(path: string, text: string): boolean {
  const tmp = temporaryName(path);
  faultErrno('lock-create');
  writeFileSync(tmp, text, { flag: 'wx' });
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    // A filesystem without hard links: an exclusive create, written at once (a reader may see it empty for an instant).
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    return true;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** The name of the claim to break the lock held by `raw`'s holder. */
function claimPath(lockPath: string, read: { holder: LockHolder | null; raw: string }): string {
  const key = read.holder?.nonce ?? `x${[...read.raw].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7).toString(16)}`;
  return `${lockPath}.break-${key}`;
}

/** Whether the lock's holder is gone (a file that names no holder is judged by its age: a writer had 10 s to fill it). */
function isStale(path: string, read: { holder: LockHolder | null }): boolean {
  // A pid-only lock naming this process was left by an earlier process with the same pid: this one writes no such lock.
  if (read.holder?.start === null && read.holder.nonce.startsWith('pid') && read.holder.pid === process.pid) return true;
  if (read.holder) return !processRuns(read.holder);
  try {
    return Date.now() - lstatSync(path).mtimeMs > 10_000;
  } catch {
    return true;
  }
}

/**
 * Removes the stale lock `read` was read from, if this process wins its claim; otherwise leaves it
 * to the process that did (or breaks that claimant's claim, when the claimant died in turn).
 */
function breakStale(lockPath: string, read: { holder: LockHolder | null; raw: string }, me: string, depth: number): void {
  if (depth > 4) throw new GiftjsError(`${lockPath}: stale lock claims are nested ${depth} deep; remove ${lockPath} and its .break-* files by hand once no giftjs process uses the folder`);
  faultDelay('lock-break');
  const claim = claimPath(lockPath, read);
  if (createExclusive(claim, me)) {
    try {
      const now = readLock(lockPath);
      if (now !== 'gone' && now.raw === read.raw) unlinkSync(lockPath);
    } finally {
      rmSync(claim, { force: true });
    }
    return;
  }
  const claimant = readLock(claim);
  if (claimant === 'gone') return; // the claimant finished: try again
  if (isStale(claim, claimant)) breakStale(claim, claimant, me, depth + 1);
  else sleepMs(10); // the claimant is at work: give it a moment
}

/**
 * Takes the lock at lockPath for this process and returns its release. A lock held by a running
 * process is refused, naming it; a stale one is taken over (one taker wins; the others then find
 * the winner's lock and are refused).
 */
export function acquireLock(lockPath: string, what: string): () => void {
  return reportingFsErrors(lockPath, () => takeLock(lockPath, what));
}

function takeLock(lockPath: string, what: string): () => void {
  mkdirSync(dirname(lockPath), { recursive: true });
  removeStaleTemporaries(lockPath);
  const me = `${JSON.stringify({ ...ownIdentity(), nonce: randomBytes(8).toString('hex') })}\n`;
  for (let attempt = 0; attempt < 500; attempt++) {
    if (createExclusive(lockPath, me)) {
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const now = readLock(lockPath);
        if (now !== 'gone' && now.raw === me) rmSync(lockPath, { force: true });
      };
    }
    const read = readLock(lockPath);
    if (read === 'gone') continue;
    if (!isStale(lockPath, read)) {
      const who = read.holder ? `pid ${read.holder.pid}` : 'a lock file giftjs cannot read, less than 10 s old';
      throw new GiftjsError(`${what} is in use by another giftjs process (${who}, lock ${lockPath}); wait for it to finish`);
    }
    breakStale(lockPath, read, me, 0);
  }
  throw new GiftjsError(`${what}: could not take the lock ${lockPath} (other processes kept taking it over)`);
}

/** Holds the lock at lockPath while `body` runs. */
export function withLock<T>(lockPath: string, what: string, body: () => T): T {
  const release = acquireLock(lockPath, what);
  try {
    return body();
  } finally {
    release();
  }
}

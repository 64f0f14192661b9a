// Atomic writes that survive a kill at any instant.
//
// A file is written beside its destination under a temporary name, flushed, then renamed over it:
// a reader (or a crash) sees the old file or the new one, never half of one.
//
// A folder (an adapter, a checkpoint, an exported model) is built in a sibling `.NAME.giftjs-building`,
// renamed to `.NAME.giftjs-ready` once complete, and then swapped in: the old folder is renamed to
// `.NAME.giftjs-old`, the ready one to NAME, and the old one removed. The names are fixed, so the
// next writer (or reader, through recoverFolder) finds what a kill left and finishes or discards it:
// a building folder is incomplete (removed), a ready one complete (swapped in), an old one stale.
//
// A folder is only ever replaced when it is empty or giftjs wrote it (it holds the marker file
// `.giftjs`, which also records each file's sha256: io/written_files.ts): whatever else stands at
// the destination is the user's, and is refused, not deleted.
import { closeSync, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { GiftjsError } from '../errors.js';
import { faultPoint } from './fault_injection.js';
import { reportingFsErrors } from './fs_errors.js';
import { withLock } from './lock.js';
import { removeStaleTemporaries, temporaryName } from './temporary_files.js';
import { markerContent, OUTPUT_MARKER } from './written_files.js';

export { reportingFsErrors } from './fs_errors.js';
export { acquireLock, withLock } from './lock.js';

export { OUTPUT_MARKER } from './written_files.js';

const sibling = (dir: string, kind: 'building' | 'ready' | 'old' | 'lock'): string => join(dirname(dir), `.${basename(dir)}.giftjs-${kind}`);

function writeAll(fd: number, chunks: Iterable<Uint8Array | string>): void {
  for (const c of chunks) {
    const bytes = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
    let off = 0;
    while (off < bytes.length) {
      faultPoint('write');
      off += writeSync(fd, bytes, off, bytes.length - off);
    }
  }
}

/** Writes the chunks, in order, to path atomically (an iterable may make each chunk as it is reached). */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array | string>): void {
  reportingFsErrors(path, () => writeFileAtomicUnchecked(path, chunks));
}

function writeFileAtomicUnchecked(path: string, chunks: Iterable<Uint8Array | string>): void {
  mkdirSync(dirname(path), { recursive: true });
  removeStaleTemporaries(path);
  const tmp = temporaryName(path);
  const fd = openSync(tmp, 'w');
  try {
    writeAll(fd, chunks);
    faultPoint('fsync');
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  faultPoint('rename');
  renameSync(tmp, path);
}

/** Flushes a folder's entries (a rename in it) to disk; a no-op where folders cannot be opened. */
function fsyncFolder(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // some filesystems refuse fsync on a folder; the rename is still atomic
  } finally {
    closeSync(fd);
  }
}

/**
 * Finishes or undoes a folder swap that a kill interrupted, so that `dir` holds the old folder or
 * the new one. Callers hold the folder's lock (or the run's), so no live writer is disturbed.
 */
export function recoverFolder(dir: string): void {
  const building = sibling(dir, 'building');
  const ready = sibling(dir, 'ready');
  const old = sibling(dir, 'old');
  if (existsSync(building)) rmSync(building, { recursive: true, force: true });
  if (existsSync(ready)) {
    // Complete: swap it in (the kill came after it was finished).
    if (existsSync(dir)) {
      if (existsSync(old)) rmSync(old, { recursive: true, force: true });
      renameSync(dir, old);
    }
    renameSync(ready, dir);
  } else if (!existsSync(dir) && existsSync(old)) {
    renameSync(old, dir);
  }
  if (existsSync(old)) rmSync(old, { recursive: true, force: true });
  removeStaleTemporaries(dir);
}

/** The first few names of a folder's entries, for a message. */
export function someEntries(entries: readonly string[]): string {
  return `${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', ...' : ''}`;
}

/** Why `dir` may not be replaced, or null when it may (missing, empty, or giftjs's own output). */
export function replaceRefusal(dir: string): string | null {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return null;
  }
  if (!st.isDirectory()) return `${dir} exists and is not a folder; giftjs replaces only folders it wrote (choose another output path)`;
  const entries = readdirSync(dir);
  if (entries.length === 0 || entries.includes(OUTPUT_MARKER)) return null;
  return `${dir} is a folder giftjs did not write (it holds ${someEntries(entries)}); giftjs never replaces it: choose a new or empty output folder`;
}

/**
 * Builds a folder atomically: fill(tmpDir) writes into a fresh temporary folder, which then
 * replaces `dir`. `dir` may be missing, empty, or a folder giftjs wrote; anything else is refused
 * before any work. The folder gets the marker file, so a later write may replace it.
 */
export function writeFolderAtomic(dir: string, fill: (tmpDir: string) => void): void {
  reportingFsErrors(dir, () => mkdirSync(dirname(dir), { recursive: true }));
  withLock(sibling(dir, 'lock'), dir, () => reportingFsErrors(dir, () => {
    recoverFolder(dir);
    const refusal = replaceRefusal(dir);
    if (refusal) throw new GiftjsError(refusal);
    const building = sibling(dir, 'building');
    const ready = sibling(dir, 'ready');
    const old = sibling(dir, 'old');
    mkdirSync(building);
    try {
      fill(building);
      // The marker records each file's sha256 (sub-folders carry markers of their own), so a reader can tell a damaged file.
      const files = readdirSync(building, { withFileTypes: true }).filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name);
      writeFileAtomic(join(building, OUTPUT_MARKER), [markerContent(building, files)]);
    } catch (err) {
      rmSync(building, { recursive: true, force: true });
      throw err;
    }
    fsyncFolder(building);
    faultPoint('rename');
    renameSync(building, ready);
    if (existsSync(dir)) {
      faultPoint('rename');
      renameSync(dir, old);
    }
    faultPoint('rename');
    renameSync(ready, dir);
    fsyncFolder(dirname(dir));
    faultPoint('remove');
    rmSync(old, { recursive: true, force: true });
  }));
}

/** A folder of named files (an evaluation's predictions and metrics, say; a file may be given as chunks), written atomically. */
export function writeFilesAtomic(dir: string, files: Record<string, string | Uint8Array | (string | Uint8Array)[]>): void {
  writeFolderAtomic(dir, (tmp) => {
    for (const [name, content] of Object.entries(files)) writeFileAtomic(join(tmp, name), Array.isArray(content) ? content : [content]);
  });
}

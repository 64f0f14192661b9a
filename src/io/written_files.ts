// What giftjs wrote is checked when giftjs reads it back. Every folder written atomically carries
// the marker `.giftjs`, which records the sha256 of each file directly in it; a reader of a tensor
// file or a checkpoint's state verifies it against the marker, so a flipped bit on disk or a file
// swapped by hand is refused by name instead of being trained on or merged. Folders without a
// marker (PEFT's, the hub's) or files it does not list are read as they are.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { GiftjsError } from '../errors.js';
import { fileExists, openRandomAccess, readTextFile } from './files.js';

/** The file that marks a folder as giftjs's own output (so replacing it deletes nothing of the user's). */
export const OUTPUT_MARKER = '.giftjs';

/** sha256 of a file, read in 4 MiB pieces. */
export function sha256OfFile(path: string): string {
  return fileHash(path, 'sha256');
}

/** A hash of a file's bytes, after `prefix` (git hashes a blob as sha1 of "blob <size>\0" + bytes), read in 4 MiB pieces. */
export function fileHash(path: string, algorithm: 'sha256' | 'sha1', prefix = ''): string {
  const file = openRandomAccess(path);
  try {
    const hash = createHash(algorithm).update(prefix);
    const piece = new Uint8Array(Math.min(4 << 20, Math.max(1, file.size)));
    for (let at = 0; at < file.size;) {
      const n = file.read(piece, 0, Math.min(piece.length, file.size - at), at);
      if (n === 0) throw new GiftjsError(`${path}: unexpected end of file at byte ${at} of ${file.size}`);
      hash.update(piece.subarray(0, n));
      at += n;
    }
    return hash.digest('hex');
  } finally {
    file.close();
  }
}

/** The marker's content for a folder whose files `names` were just written into `dir`. */
export function markerContent(dir: string, names: readonly string[]): string {
  const sha256 = Object.fromEntries([...names].sort().map((n) => [n, sha256OfFile(join(dir, n))]));
  return `${JSON.stringify({ written_by: 'giftjs', sha256 }, null, 2)}\n`;
}

/**
 * Refuses each named file of `dir` whose bytes differ from what the folder's marker recorded when
 * giftjs wrote it. A folder without a marker, or a marker without the name, is not checked.
 */
export function verifyWrittenFiles(dir: string, names: readonly string[]): void {
  const markerPath = join(dir, OUTPUT_MARKER);
  if (!fileExists(markerPath)) return;
  let recorded: Record<string, unknown>;
  try {
    const marker = JSON.parse(readTextFile(markerPath)) as { sha256?: unknown };
    recorded = marker.sha256 !== null && typeof marker.sha256 === 'object' ? (marker.sha256 as Record<string, unknown>) : {};
  } catch (err) {
    throw new GiftjsError(`${markerPath}: giftjs's record of the folder's files is not valid JSON (${(err as Error).message}); the folder was damaged after giftjs wrote it`);
  }
  for (const name of names) {
    const want = recorded[name];
    if (want === undefined) continue;
    const path = join(dir, name);
    if (!fileExists(path)) throw new GiftjsError(`${path} is missing: giftjs wrote it with this folder (${markerPath} lists it); the folder was damaged or changed by hand`);
    const got = sha256OfFile(path);
    if (got !== want) {
      throw new GiftjsError(`${path} is not the file giftjs wrote: its sha256 is ${got}, giftjs recorded ${String(want)} in ${markerPath}; it was corrupted or changed after writing, and is not used`);
    }
  }
}

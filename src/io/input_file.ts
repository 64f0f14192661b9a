// Reading a file the user named as input: a missing or unreadable one is a GiftjsError naming it,
// with what the system said in words (a permission problem is not "not valid JSON", a dangling
// link in a cache is not an internal error).
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { GiftjsError } from '../errors.js';

const WHY: Record<string, string> = {
  ENOENT: 'does not exist', EACCES: 'permission denied', EPERM: 'not permitted', EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is a file, not a folder', ELOOP: 'is a loop of symbolic links', EIO: 'a read error on the device',
  ENAMETOOLONG: 'the name is too long', EMFILE: 'too many files are open', ENXIO: 'is no file that can be read (a socket or device)',
};

/** The error for an input that cannot be read (its system code, e.g. ENOENT, EISDIR, EACCES, said in words). */
export function cannotRead(path: string, err: unknown): GiftjsError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    try {
      if (lstatSync(path).isSymbolicLink()) return new GiftjsError(`${path}: cannot read: it is a link to ${readlinkSync(path)}, which does not exist (a damaged download or cache?)`);
    } catch {
      // not there at all
    }
  }
  const why = code && Object.hasOwn(WHY, code) ? `${WHY[code]} (${code})` : code ?? (err as Error).message;
  return new GiftjsError(`${path}: cannot read: ${why}`);
}

export function readInputFile(path: string): Buffer;
export function readInputFile(path: string, encoding: 'utf8'): string;
export function readInputFile(path: string, encoding?: 'utf8'): Buffer | string {
  try {
    return encoding ? readFileSync(path, encoding) : readFileSync(path);
  } catch (err) {
    throw cannotRead(path, err);
  }
}

// Reading a file the user named as input: a missing or unreadable one is a GiftjsError naming it,
// with what the system said in words (a permission problem is not "not valid JSON", a dangling
// link in a cache is not an internal error).
import { lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
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

/**
 * Files read whole are at most this large: a JavaScript string holds at most 2^29 characters, and
 * the records parsed from a text take several times its size. (Parquet is read by row groups.)
 */
export const MAX_INPUT_FILE_BYTES = 512 * 2 ** 20;

export function readInputFile(path: string): Buffer;
export function readInputFile(path: string, encoding: 'utf8'): string;
export function readInputFile(path: string, encoding?: 'utf8'): Buffer | string {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw cannotRead(path, err);
  }
  // A device (/dev/zero), a pipe or a socket has no end to read to; a huge file does not fit.
  if (st.isDirectory()) throw cannotRead(path, Object.assign(new Error('EISDIR'), { code: 'EISDIR' }));
  if (!st.isFile()) throw new GiftjsError(`${path}: cannot read: it is not a regular file (a device, a pipe or a socket); giftjs reads data from files`);
  if (st.size > MAX_INPUT_FILE_BYTES) {
    throw new GiftjsError(`${path} is ${(st.size / 2 ** 20).toFixed(0)} MiB; giftjs reads text files of up to ${MAX_INPUT_FILE_BYTES / 2 ** 20} MiB whole (split it, or use Parquet)`);
  }
  try {
    return encoding ? readFileSync(path, encoding) : readFileSync(path);
  } catch (err) {
    throw cannotRead(path, err);
  }
}

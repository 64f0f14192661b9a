// Filesystem errors as the user should read them: the path, and what the system said in words.
import { GiftjsError } from '../errors.js';

/**
 * Runs a filesystem write: an error the system reports (a file where a folder should be, no
 * permission, a full disk) becomes a GiftjsError naming the path.
 */
export function reportingFsErrors<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof GiftjsError || typeof code !== 'string') throw err;
    const why: Record<string, string> = {
      EEXIST: 'a file is in the way of a folder', ENOTDIR: 'a file is in the way of a folder', EACCES: 'permission denied', EPERM: 'not permitted',
      EROFS: 'read-only filesystem', ENOSPC: 'no space left on the device', EISDIR: 'a folder is in the way of a file', ENAMETOOLONG: 'the name is too long',
    };
    throw new GiftjsError(`cannot write ${path}: ${Object.hasOwn(why, code) ? why[code] : code} (${(err as Error).message})`);
  }
}

// A file's bytes mapped into memory instead of read (the native addon's mapFile: private and
// copy-on-write, read from disk when first touched, unmapped when collected). Null where it cannot
// be had -- no native addon, a platform without it, or GIFTJS_MMAP=0 -- and the caller reads.
import { loadAddon } from '../backend/native/binding.js';

export function mapFileRange(path: string, offset: number, length: number): ArrayBuffer | null {
  if (process.env.GIFTJS_MMAP === '0' || length === 0) return null;
  const { addon } = loadAddon();
  if (!addon?.mapFile) return null;
  try {
    return addon.mapFile(path, offset, length);
  } catch {
    return null; // a filesystem that cannot map: read instead
  }
}

/**
 * `length` zeroed bytes for a large buffer written once (a quantized weight's codes), on huge pages
 * where the kernel gives them; null where there is no native addon (or GIFTJS_MMAP=0), and the
 * caller allocates an ordinary array.
 */
export function mapAnonymous(length: number): ArrayBuffer | null {
  if (process.env.GIFTJS_MMAP === '0' || length === 0) return null;
  const { addon } = loadAddon();
  if (!addon?.mapAnonymous) return null;
  try {
    return addon.mapAnonymous(length);
  } catch {
    return null;
  }
}

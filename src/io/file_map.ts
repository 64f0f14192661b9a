// A file's bytes mapped into memory instead of read (the native addon's mapFile: private and
// copy-on-write, read from disk when first touched, unmapped when collected). Null where it cannot
// be had -- no native addon, a platform without it, or GIFTJS_MMAP=0 -- and the caller reads.
import { loadAddon } from '../backend/native/binding.js';

/** The buffers mapFileRange made: only their pages may be released (they are the file's). */
const fileMappings = new WeakSet<ArrayBuffer>();

export function mapFileRange(path: string, offset: number, length: number): ArrayBuffer | null {
  if (process.env.GIFTJS_MMAP === '0' || length === 0) return null;
  const { addon } = loadAddon();
  if (!addon?.mapFile) return null;
  try {
    const buffer = addon.mapFile(path, offset, length);
    fileMappings.add(buffer);
    return buffer;
  } catch {
    return null; // a filesystem that cannot map: read instead
  }
}

/**
 * Drops this process's resident pages of a view into a mapped file (a frozen weight mapped as stored):
 * they stay in the page cache and come back on the next touch, so a model larger than what one step
 * keeps resident is paged through layer by layer. Only for views never written (giftjs replaces a
 * mapped weight's buffer rather than writing into it); false where the view is not a file's mapping.
 */
export function releaseMappedPages(view: ArrayBufferView): boolean {
  if (!(view.buffer instanceof ArrayBuffer) || !fileMappings.has(view.buffer)) return false;
  return loadAddon().addon?.releaseMappedPages?.(view) ?? false;
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

/** Bytes from which a large buffer written once is mapped on huge pages (a few huge pages' worth). */
const HUGE_PAGE_BYTES = 8 * 1024 * 1024;

/**
 * A buffer for a large matrix's codes, written once as it is loaded: on huge pages from 8 MB up
 * (far fewer page faults; mapAnonymous), else null and the caller allocates an ordinary array.
 */
export function codesBuffer(bytes: number): ArrayBuffer | null {
  return bytes >= HUGE_PAGE_BYTES ? mapAnonymous(bytes) : null;
}

// A file's bytes mapped into memory instead of read (the native addon's mapFile: private and
// copy-on-write, read from disk when first touched, unmapped when collected). Null where it cannot
// be had -- no native addon, a platform without it, or GIFTJS_MMAP=0 -- and the caller reads.
import { loadAddon } from '../backend/native/binding.js';
import { environmentSwitch } from '../environment.js';

/** The buffers mapFileRange made: only their pages may be released (they are the file's). */
const fileMappings = new WeakSet<ArrayBuffer>();

export function mapFileRange(path: string, offset: number, length: number): ArrayBuffer | null {
  if (length === 0 || !environmentSwitch('GIFTJS_MMAP')) return null;
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

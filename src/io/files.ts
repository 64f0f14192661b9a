// Reading input files through one door: Node's file system, or folders held in memory that a
// browser page mounts (files it fetched or the user picked), so that the loaders (config.json,
// safetensors weights, tokenizer files, adapters) read both the same way. Node's fs is touched only
// for paths outside the mounted folders, so a browser bundle never calls it.
import { mapFileRange } from './file_map.js';
import { cannotRead } from './input_file.js';
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { GiftjsError } from '../errors.js';

/** Mounted folders: path without a trailing slash -> file name -> bytes. */
const mounted = new Map<string, Map<string, Uint8Array>>();

function split(path: string): [string, string] {
  const cut = path.lastIndexOf('/');
  return cut < 0 ? ['', path] : [path.slice(0, cut), path.slice(cut + 1)];
}

const trimSlash = (dir: string) => (dir.length > 1 ? dir.replace(/\/+$/, '') : dir);

/**
 * Makes `files` readable as `dir/name` by every loader, until unmounted. The folder is flat (a
 * model folder, an adapter folder); the bytes are not copied.
 */
export function mountFolder(dir: string, files: Record<string, Uint8Array>): void {
  const names = Object.keys(files);
  const bad = names.find((n) => n === '' || n.includes('/') || n === '.' || n === '..');
  if (bad !== undefined) throw new GiftjsError(`mountFolder(${dir}): ${JSON.stringify(bad)} is not a file name (the folder is flat)`);
  mounted.set(trimSlash(dir), new Map(Object.entries(files)));
}

export function unmountFolder(dir: string): void {
  mounted.delete(trimSlash(dir));
}

function memoryFile(path: string): Uint8Array | undefined {
  const [dir, name] = split(path);
  return mounted.get(trimSlash(dir))?.get(name);
}

function inMountedFolder(path: string): boolean {
  return mounted.has(trimSlash(split(path)[0])) || mounted.has(trimSlash(path));
}

export function fileExists(path: string): boolean {
  if (memoryFile(path) || mounted.has(trimSlash(path))) return true;
  if (inMountedFolder(path)) return false;
  return existsSync(path);
}

export function readFileBytes(path: string): Uint8Array {
  const bytes = memoryFile(path);
  if (bytes) return bytes;
  if (inMountedFolder(path)) throw new GiftjsError(`${path} does not exist`);
  try {
    return readFileSync(path);
  } catch (err) {
    throw cannotRead(path, err);
  }
}

export function readTextFile(path: string): string {
  return new TextDecoder().decode(readFileBytes(path));
}

/** The names in a folder, sorted; a path that is no folder is a GiftjsError naming it. */
export function listFolder(dir: string): string[] {
  const files = mounted.get(trimSlash(dir));
  if (files) return [...files.keys()].sort();
  if (!fileExists(dir)) throw new GiftjsError(`${dir}: no such folder`);
  try {
    return readdirSync(dir).sort();
  } catch (err) {
    // (The path exists, so ENOTDIR is of the path itself: a file given where a folder is read, such as --model data.jsonl.)
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw new GiftjsError(`${dir}: is a file, not a folder`);
    throw cannotRead(dir, err);
  }
}

/** A file read piece by piece at given positions (safetensors tensors, without loading the whole file twice). */
export interface RandomAccessFile {
  readonly size: number;
  /** Reads up to `length` bytes at `position` into into[offset..]; returns how many (0 at the end). */
  read(into: Uint8Array, offset: number, length: number, position: number): number;
  /**
   * The bytes at `position` mapped rather than read (a file on disk, with the native addon), or null:
   * a view into the mapping of the 3 GiB window of the file that holds them, made at the first call
   * (a buffer per window, not one per tensor: each mapped buffer counts as external memory to V8's
   * garbage collector, and hundreds of them made an 8B model's load mostly collection).
   */
  map?(position: number, length: number): Uint8Array | null;
  close(): void;
}

/** A file is mapped in windows of this size: few buffers (each mapping makes V8 collect garbage), under the 4 GB that crashes Node 20 in N-API. */
const MAP_WINDOW_BYTES = 3 * 2 ** 30;

/** `mapWindowBytes`: the window size (tests map small files in small windows). */
export function openRandomAccess(path: string, mapWindowBytes = MAP_WINDOW_BYTES): RandomAccessFile {
  const bytes = memoryFile(path);
  if (bytes) {
    return {
      size: bytes.length,
      read(into, offset, length, position) {
        const n = Math.max(0, Math.min(length, bytes.length - position));
        into.set(bytes.subarray(position, position + n), offset);
        return n;
      },
      close() {},
    };
  }
  if (inMountedFolder(path)) throw new GiftjsError(`${path} does not exist`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw cannotRead(path, err); // a shard an index names but that is missing, a dangling cache link
  }
  let size: number;
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
    size = st.size;
  } catch (err) {
    closeSync(fd);
    throw cannotRead(path, err);
  }
  let open = true;
  const windows = new Map<number, ArrayBuffer | null>(); // mapped at first use
  return {
    size,
    read: (into, offset, length, position) => readSync(fd, into, offset, length, position),
    map: (position, length) => {
      if (length <= 0 || position + length > size) return null;
      const w = Math.floor(position / mapWindowBytes);
      if (Math.floor((position + length - 1) / mapWindowBytes) !== w) {
        const own = mapFileRange(path, position, length); // a range across two windows: mapped alone
        return own ? new Uint8Array(own) : null;
      }
      if (!windows.has(w)) windows.set(w, mapFileRange(path, w * mapWindowBytes, Math.min(mapWindowBytes, size - w * mapWindowBytes)));
      const window = windows.get(w);
      return window ? new Uint8Array(window, position - w * mapWindowBytes, length) : null;
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

// GGUF, llama.cpp's model file, read: the header, the typed metadata, the tensor table, and each
// tensor's values as float32 (F32, F16, BF16, and the quantized blocks of io/ggml_blocks.ts --
// Q8_0, Q4_0/1, Q5_0/1, the k-quants Q2_K..Q6_K, IQ4_NL and IQ4_XS -- dequantized as ggml does). Other
// tensor types (the other i-quants, ternary, MXFP4) are refused by name. Read through a file handle, a slice
// at a time, so a file of any size is never held whole. Bounds are checked before anything is sized
// by the file: a GGUF is an input, and a hostile one gets a clear error, not an allocation.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { openRandomAccess, type RandomAccessFile } from './files.js';
import { GGML_BLOCK_TYPES, readGgmlTypeNames, UNREAD_GGML_TYPES } from './ggml_blocks.js';
import { GiftjsError } from '../errors.js';

export type GgufMetadataValue = number | bigint | boolean | string | GgufMetadataValue[];

export interface GgufTensorInfo {
  name: string;
  /** Row-major shape ([rows, cols]): ggml's dims reversed. */
  shape: number[];
  type: number;
  /** ggml's name of the type: 'F32', 'BF16', 'Q8_0', 'Q4_K', ... */
  typeName: string;
  /** Absolute byte offset in the file, and byte length. */
  offset: number;
  bytes: number;
}

const MAX_STRING = 64 * 2 ** 20;

/** A value from the file as a message shows it: at most 80 characters (a hostile file's names can be megabytes). */
export function preview(v: unknown): string {
  const text = typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? `a list of ${v.length}` : JSON.stringify(String(v));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
const MAX_ARRAY = 2 ** 24;
const MAX_ENTRIES = 2 ** 20;

export class GgufFile {
  readonly metadata = new Map<string, GgufMetadataValue>();
  readonly tensors = new Map<string, GgufTensorInfo>();
  /** Where the tensor data starts: everything before is the header (metadata and tensor table). */
  dataStart = 0;
  private readonly fd: number;
  private readonly size: number;
  /** The file opened for mapping, at the first mapTensor. */
  private mapper: RandomAccessFile | null = null;

  private constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }

  static open(path: string): GgufFile {
    let file: GgufFile;
    try {
      file = new GgufFile(path);
    } catch (err) {
      throw new GiftjsError(`${path}: cannot open (${(err as Error).message})`);
    }
    try {
      file.parse();
    } catch (err) {
      file.close();
      throw err;
    }
    return file;
  }

  close(): void {
    closeSync(this.fd);
    this.mapper?.close(); // (mappings already made stay valid)
    this.mapper = null;
  }

  private fail(msg: string): never {
    throw new GiftjsError(`${this.path}: ${msg}`);
  }

  private parse(): void {
    const c = new Cursor(this.fd, this.size, (m) => this.fail(m));
    if (c.bytes(4).toString('latin1') !== 'GGUF') this.fail('not a GGUF file (no "GGUF" magic at its start)');
    const version = c.u32();
    if (version !== 2 && version !== 3) this.fail(`GGUF version ${version} is not supported (2 and 3 are)`);
    const tensorCount = c.count('tensor count', MAX_ENTRIES);
    const kvCount = c.count('metadata count', MAX_ENTRIES);
    for (let i = 0; i < kvCount; i++) {
      const key = c.string();
      const type = c.u32();
      this.metadata.set(key, this.value(c, type, key));
    }
    const infos: { name: string; dims: number[]; type: number; offset: number }[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = c.string();
      const nDims = c.u32();
      if (nDims < 1 || nDims > 4) this.fail(`tensor ${preview(name)} has ${nDims} dimensions (1 to 4 allowed)`);
      const dims = Array.from({ length: nDims }, () => c.count(`a dimension of ${preview(name)}`, 2 ** 40));
      infos.push({ name, dims, type: c.u32(), offset: c.count(`the offset of ${preview(name)}`, 2 ** 52) });
    }
    const alignment = this.metadata.get('general.alignment') ?? 32;
    if (typeof alignment !== 'number' || alignment <= 0 || alignment % 8 !== 0) this.fail(`general.alignment ${String(alignment)} is not a positive multiple of 8`);
    const dataStart = (this.dataStart = Math.ceil(c.position / alignment) * alignment);
    for (const t of infos) {
      if (this.tensors.has(t.name)) this.fail(`tensor ${preview(t.name)} is listed twice`);
      const kind = GGML_BLOCK_TYPES[t.type];
      const shape = [...t.dims].reverse();
      const values = shape.reduce((a, b) => a * b, 1);
      const typeName = kind?.name ?? UNREAD_GGML_TYPES[t.type] ?? `type ${t.type}`;
      const bytes = kind ? (values / kind.values) * kind.bytes : 0;
      if (kind && (t.dims[0]! % kind.values !== 0)) this.fail(`tensor ${preview(t.name)} (${typeName}) has rows of ${t.dims[0]} values, not whole blocks of ${kind.values}`);
      const offset = dataStart + t.offset;
      if (kind && offset + bytes > this.size) this.fail(`tensor ${preview(t.name)} ends at byte ${offset + bytes}, past the end of the file (${this.size} bytes): the file is truncated`);
      this.tensors.set(t.name, { name: t.name, shape, type: t.type, typeName, offset, bytes });
    }
  }

  private value(c: Cursor, type: number, key: string): GgufMetadataValue {
    switch (type) {
      case 0: return c.bytes(1).readUInt8(0);
      case 1: return c.bytes(1).readInt8(0);
      case 2: return c.bytes(2).readUInt16LE(0);
      case 3: return c.bytes(2).readInt16LE(0);
      case 4: return c.u32();
      case 5: return c.bytes(4).readInt32LE(0);
      case 6: return c.bytes(4).readFloatLE(0);
      case 7: return c.bytes(1).readUInt8(0) !== 0;
      case 8: return c.string();
      case 9: {
        const elem = c.u32();
        const n = c.count(`the length of ${preview(key)}`, MAX_ARRAY);
        if (elem === 9) this.fail(`${preview(key)}: arrays of arrays are not supported`);
        return Array.from({ length: n }, () => this.value(c, elem, key));
      }
      case 10: return c.bigU64();
      case 11: return c.bytes(8).readBigInt64LE(0);
      case 12: return c.bytes(8).readDoubleLE(0);
      default: return this.fail(`metadata ${preview(key)} has value type ${type}, which GGUF does not define`);
    }
  }

  /** sha256 of the header (metadata and tensor table): what a model folder made from the file depends on. */
  headerDigest(): string {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let at = 0; at < this.dataStart; at += buf.length) {
      const n = Math.min(buf.length, this.dataStart - at);
      readFully(this.fd, buf.subarray(0, n), at, () => this.fail('the file is truncated'));
      hash.update(buf.subarray(0, n));
    }
    return hash.digest('hex');
  }

  /** A metadata value, or `fallback` when absent; `fail` names the key when it has the wrong kind. */
  number(key: string, fallback?: number): number {
    const v = this.metadata.get(key);
    if (v === undefined) {
      if (fallback === undefined) this.fail(`metadata ${key} is missing`);
      return fallback;
    }
    if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
    if (typeof v !== 'number') this.fail(`metadata ${key} must be a number, got ${preview(v)}`);
    return v;
  }

  string(key: string): string | null {
    const v = this.metadata.get(key);
    if (v === undefined) return null;
    if (typeof v !== 'string') this.fail(`metadata ${key} must be a string`);
    return v;
  }

  array(key: string): GgufMetadataValue[] | null {
    const v = this.metadata.get(key);
    if (v === undefined) return null;
    if (!Array.isArray(v)) this.fail(`metadata ${key} must be an array`);
    return v;
  }

  info(name: string): GgufTensorInfo {
    const t = this.tensors.get(name);
    if (!t) this.fail(`no tensor '${name}'`);
    if (!GGML_BLOCK_TYPES[t.type]) {
      this.fail(`tensor '${name}' is ${t.typeName}, which giftjs does not read (it reads ${readGgmlTypeNames()}: convert the file with llama.cpp's llama-quantize to one of those)`);
    }
    return t;
  }

  /** The tensor's values as float32, row-major (quantized blocks dequantized as ggml does). */
  readInto(name: string, out: Float32Array): void {
    const t = this.info(name);
    const values = t.shape.reduce((a, b) => a * b, 1);
    if (out.length !== values) this.fail(`tensor '${name}' holds ${values} values, asked for ${out.length}`);
    const kind = GGML_BLOCK_TYPES[t.type]!;
    this.readBlocks(name, (bytes, first, blocks) => kind.decode(bytes, blocks, out.subarray(first * kind.values, (first + blocks) * kind.values)));
  }

  /**
   * The tensor's bytes as they are stored, mapped from the file rather than read (pages come in when
   * first touched and stay reclaimable), or null where the file cannot be mapped (no native addon,
   * GIFTJS_MMAP=0): then readBlocks reads them.
   */
  mapTensor(name: string): Uint8Array | null {
    const t = this.info(name);
    this.mapper ??= openRandomAccess(this.path);
    return this.mapper.map?.(t.offset, t.bytes) ?? null;
  }

  /**
   * The tensor's bytes as they are stored, a slice of whole blocks at a time (the file is never held
   * whole): visit(bytes, index of the slice's first block, blocks in the slice).
   */
  readBlocks(name: string, visit: (bytes: Uint8Array, firstBlock: number, blocks: number) => void): void {
    const t = this.info(name);
    const kind = GGML_BLOCK_TYPES[t.type]!;
    const blocksPerSlice = Math.max(1, Math.floor((8 << 20) / kind.bytes));
    const totalBlocks = t.shape.reduce((a, b) => a * b, 1) / kind.values;
    const buf = Buffer.allocUnsafe(Math.min(blocksPerSlice, totalBlocks) * kind.bytes);
    for (let b0 = 0; b0 < totalBlocks; b0 += blocksPerSlice) {
      const blocks = Math.min(blocksPerSlice, totalBlocks - b0);
      const slice = buf.subarray(0, blocks * kind.bytes);
      readFully(this.fd, slice, t.offset + b0 * kind.bytes, () => this.fail(`tensor '${name}' could not be read whole: the file is truncated`));
      visit(new Uint8Array(slice.buffer, slice.byteOffset, slice.byteLength), b0, blocks);
    }
  }
}

function readFully(fd: number, buf: Buffer, position: number, truncated: () => never): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) truncated();
    done += n;
  }
}

/** Reads the header region through a buffered window. */
class Cursor {
  position = 0;
  private window = Buffer.alloc(0);
  private windowStart = 0;
  constructor(private readonly fd: number, private readonly size: number, private readonly fail: (msg: string) => never) {}

  bytes(n: number): Buffer {
    if (this.position + n > this.size) this.fail(`the header ends past the end of the file (${this.size} bytes): the file is truncated`);
    const rel = this.position - this.windowStart;
    if (rel < 0 || rel + n > this.window.length) {
      const length = Math.min(Math.max(n, 1 << 20), this.size - this.position);
      this.window = Buffer.allocUnsafe(length);
      readFully(this.fd, this.window, this.position, () => this.fail('the file is truncated'));
      this.windowStart = this.position;
    }
    const start = this.position - this.windowStart;
    this.position += n;
    return this.window.subarray(start, start + n);
  }

  u32(): number {
    return this.bytes(4).readUInt32LE(0);
  }

  bigU64(): bigint {
    return this.bytes(8).readBigUInt64LE(0);
  }

  /** A u64 count or size, at most `most`. */
  count(what: string, most: number): number {
    const v = this.bigU64();
    if (v > BigInt(most)) this.fail(`${what} is ${v}, more than giftjs accepts (${most})`);
    return Number(v);
  }

  string(): string {
    const n = this.count('a string length', MAX_STRING);
    return this.bytes(n).toString('utf8');
  }
}

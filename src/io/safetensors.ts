// safetensors: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
// shape and byte range, then the raw little-endian data.
//
// The header is validated before anything is trusted: bounded size, known dtypes, integer shapes,
// byte ranges inside the file that match shape x dtype and do not overlap. Tensors are read one
// at a time straight into their final buffers, so loading never needs twice the file's size.
import { bf16ToFloat32, float16ToFloat32, float32ToBf16, float32ToFloat16 } from '../formats/dtype.js';
import { shapeString, sizeOf } from '../tensor/shape.js';
import { quantizeValues, Tensor } from '../tensor/tensor.js';
import { QuantizedMatrix, type QuantFormat } from '../formats/quantized.js';
import { writeFileAtomic } from './atomic.js';
import { releaseMappedPages } from './file_map.js';
import { frozenWeightHalves, frozenWeightQuantized } from '../backend/huge_pages.js';
import { openRandomAccess, type RandomAccessFile } from './files.js';
import { GiftjsError } from '../errors.js';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const DTYPE_BYTES: Record<SafetensorsDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** Headers larger than this are refused (the format's own reference limit is 100 MB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte range relative to the start of the data section. */
  begin: number;
  end: number;
}

export class SafetensorsError extends GiftjsError {}

/** Bytes of a matrix's stored values read per block while it is quantized. */
const QUANTIZE_BLOCK_BYTES = 32 * 1024 * 1024;

/**
 * Bytes of a tensor's stored values read per part while it is converted (widened to float32, or
 * rounded to bfloat16): the conversion holds this much beside its result, not the whole tensor's
 * stored copy (an 8B model's embedding is 2.1 GB as float32).
 */
export const CONVERT_PART_BYTES = 8 * 1024 * 1024;

export class SafetensorsFile {
  readonly tensors = new Map<string, TensorInfo>();
  readonly metadata: Record<string, string> = {};
  private file: RandomAccessFile | null;
  private readonly dataStart: number = 0;
  /**
   * Reused for what a conversion reads before it converts (a part of a BF16 / F16 tensor's bits, of
   * the float32 values of one rounded to bfloat16; a block of a matrix quantized): a fresh array per
   * read is freed only when the garbage collector runs, so a model's temporaries piled up while it
   * loaded.
   */
  private scratch: ArrayBuffer | null = null;

  private scratchBytes(bytes: number): ArrayBuffer {
    if (!this.scratch || this.scratch.byteLength < bytes) this.scratch = new ArrayBuffer(bytes);
    return this.scratch;
  }

  private constructor(readonly path: string) {
    this.file = openRandomAccess(path);
    try {
      const fileSize = this.file.size;
      const fail = (msg: string): never => {
        throw new SafetensorsError(`${path}: ${msg}`);
      };
      if (fileSize < 8) fail(`file is ${fileSize} bytes, too short for a safetensors header`);
      const lenBuf = new Uint8Array(8);
      this.file.read(lenBuf, 0, 8, 0);
      const headerLen = Number(new DataView(lenBuf.buffer).getBigUint64(0, true));
      if (headerLen > MAX_HEADER_BYTES) fail(`header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
      if (8 + headerLen > fileSize) fail(`header length ${headerLen} runs past the end of the ${fileSize}-byte file`);
      const headerBuf = new Uint8Array(headerLen);
      this.file.read(headerBuf, 0, headerLen, 8);
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(new TextDecoder().decode(headerBuf));
      } catch (err) {
        return fail(`header is not valid JSON (${(err as Error).message})`);
      }
      if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
      this.dataStart = 8 + headerLen;
      const dataSize = fileSize - this.dataStart;
      const meta = header.__metadata__;
      this.metadata = meta && typeof meta === 'object' ? (meta as Record<string, string>) : {};
      for (const [name, raw] of Object.entries(header)) {
        if (name === '__metadata__') continue;
        const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
        const where = `tensor '${name}'`;
        if (typeof e?.dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, e.dtype)) fail(`${where} has unknown dtype ${JSON.stringify(e?.dtype)}`);
        const dtype = e.dtype as SafetensorsDType;
        if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`${where} has an invalid shape ${JSON.stringify(e.shape)}`);
        const shape = e.shape as number[];
        const off = e.data_offsets;
        if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[0] > off[1]) {
          fail(`${where} has invalid data_offsets ${JSON.stringify(off)}`);
        }
        const [begin, end] = off as [number, number];
        if (end > dataSize) fail(`${where} ends at byte ${end} of the data section, which holds only ${dataSize} bytes (truncated file?)`);
        const expected = sizeOf(shape) * DTYPE_BYTES[dtype];
        if (end - begin !== expected) fail(`${where}: shape ${shapeString(shape)} x ${dtype} needs ${expected} bytes but data_offsets span ${end - begin}`);
        this.tensors.set(name, { name, dtype, shape, begin, end });
      }
      const sorted = [...this.tensors.values()].sort((a, b) => a.begin - b.begin);
      for (let i = 1; i < sorted.length; i++) {
        if (sorted[i]!.begin < sorted[i - 1]!.end) fail(`tensors '${sorted[i - 1]!.name}' and '${sorted[i]!.name}' overlap`);
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  static open(path: string): SafetensorsFile {
    return new SafetensorsFile(path);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(`${this.path}: no tensor named '${name}'`);
    return t;
  }

  /** Reads a tensor's bytes into `into` (which must have exactly its byte length). */
  private readBytes(info: TensorInfo, into: Uint8Array): void {
    this.readRange(info, 0, into);
  }

  /**
   * A tensor's stored values read a part at a time (CONVERT_PART_BYTES, whole elements) through the
   * scratch buffer; `convert(bytes, first, count)` is handed each part: its elements first..first+count.
   */
  private readInParts(info: TensorInfo, width: number, convert: (bytes: ArrayBuffer, first: number, count: number) => void): void {
    const n = sizeOf(info.shape);
    const perPart = Math.max(1, Math.floor(CONVERT_PART_BYTES / width));
    for (let first = 0; first < n; first += perPart) {
      const count = Math.min(perPart, n - first);
      const bytes = this.scratchBytes(Math.min(perPart, n) * width);
      this.readRange(info, first * width, new Uint8Array(bytes, 0, count * width));
      convert(bytes, first, count);
    }
  }

  /** Bytes [from, from + into.length) of a tensor's data. */
  private readRange(info: TensorInfo, from: number, into: Uint8Array): void {
    if (this.file === null) throw new SafetensorsError(`${this.path}: file is closed`);
    if (from + into.length > info.end - info.begin) throw new SafetensorsError(`${this.path}: read past the end of tensor '${info.name}'`);
    let done = 0;
    while (done < into.length) {
      const n = this.file.read(into, done, into.length - done, this.dataStart + info.begin + from + done);
      if (n === 0) throw new SafetensorsError(`${this.path}: unexpected end of file in tensor '${info.name}'`);
      done += n;
    }
  }

  /** A float tensor (F32, F16, BF16 or F64) as float32. */
  readTensor(name: string): Tensor {
    const t = Tensor.empty(this.info(name).shape);
    try {
      t.writeHost((values) => this.readInto(name, values));
    } catch (err) {
      t.dispose();
      throw err;
    }
    return t;
  }

  /** Reads a float tensor, converted to float32, straight into `out` (its exact size). */
  readInto(name: string, out: Float32Array): void {
    const info = this.info(name);
    const n = sizeOf(info.shape);
    if (out.length !== n) throw new SafetensorsError(`${this.path}: tensor '${name}' has ${n} values, the destination ${out.length}`);
    switch (info.dtype) {
      case 'F32':
        this.readBytes(info, new Uint8Array(out.buffer, out.byteOffset, n * 4));
        return;
      case 'BF16':
      case 'F16': {
        const widen = info.dtype === 'BF16' ? bf16ToFloat32 : float16ToFloat32;
        this.readInParts(info, 2, (bytes, first, count) => void widen(new Uint16Array(bytes, 0, count), out.subarray(first, first + count)));
        return;
      }
      case 'F64':
        this.readInParts(info, 8, (bytes, first, count) => out.set(new Float64Array(bytes, 0, count), first));
        return;
      default:
        throw new SafetensorsError(`${this.path}: tensor '${name}' is ${info.dtype}, not a floating-point tensor`);
    }
  }

  /**
   * A BF16 tensor's bits as stored (no conversion): mapped from the file where it can be (the pages
   * are read when first touched, and stay the file's: reclaimable, not counted twice), else read
   * into a new array. Mapped bits are private: writing them changes nothing on disk.
   */
  readBf16Bits(name: string): Uint16Array {
    return this.storedHalves(name, 'BF16');
  }

  /** An F16 tensor's bits as stored (no conversion), mapped or read as readBf16Bits does. */
  readF16Bits(name: string): Uint16Array {
    return this.storedHalves(name, 'F16');
  }

  private storedHalves(name: string, dtype: 'BF16' | 'F16'): Uint16Array {
    const info = this.info(name);
    if (info.dtype !== dtype) throw new SafetensorsError(`${this.path}: tensor '${name}' is ${info.dtype}, not ${dtype}`);
    if (this.file === null) throw new SafetensorsError(`${this.path}: file is closed`);
    const start = this.dataStart + info.begin;
    const mapped = start % 2 === 0 ? this.file.map?.(start, info.end - info.begin) : null; // a Uint16Array view needs an even offset
    if (mapped) return new Uint16Array(mapped.buffer, mapped.byteOffset, mapped.byteLength / 2);
    const bits = frozenWeightHalves(sizeOf(info.shape));
    this.readBytes(info, new Uint8Array(bits.buffer));
    return bits;
  }

  /**
   * A float tensor rounded to bfloat16 bits (nearest even, as storeAsBf16 rounds), in a new array;
   * the stored values pass through the reused scratch buffer a part at a time (BF16 is returned as
   * stored).
   */
  readRoundedBf16(name: string): Uint16Array {
    const info = this.info(name);
    const n = sizeOf(info.shape);
    if (info.dtype === 'BF16') return this.readBf16Bits(name);
    const out = frozenWeightHalves(n); // new memory, written once below and kept
    if (info.dtype === 'F32') {
      this.readInParts(info, 4, (bytes, first, count) => void float32ToBf16(new Float32Array(bytes, 0, count), out.subarray(first, first + count)));
      return out;
    }
    if (info.dtype === 'F16') {
      const widened = new Float32Array(Math.min(n, CONVERT_PART_BYTES / 2));
      this.readInParts(info, 2, (bytes, first, count) => void float32ToBf16(float16ToFloat32(new Uint16Array(bytes, 0, count), widened.subarray(0, count)), out.subarray(first, first + count)));
      return out;
    }
    const values = new Float32Array(n);
    this.readInto(name, values);
    return float32ToBf16(values, out);
  }

  /**
   * A float matrix quantized (--quantize), a block of rows at a time: the weight's full-precision
   * values are never resident at once (the 8B model's embedding is 1 GB of bf16). Where the file
   * maps, each block is quantized straight from the mapping -- the quantizer's threads fault the
   * page cache's pages in themselves, with no copy -- and its pages are released after (they were
   * only read); else it is read through a small buffer. (Read, the 1B model's int4 load spent
   * 0.4-0.5 s copying on one thread before the two could quantize.) `what` names the weight in a refusal.
   */
  readQuantized(name: string, format: QuantFormat, what: string): QuantizedMatrix {
    const info = this.info(name);
    if (info.shape.length !== 2) throw new SafetensorsError(`${this.path}: tensor '${name}' ${shapeString(info.shape)} is not a matrix; only matrices are quantized`);
    if (!['BF16', 'F32', 'F16'].includes(info.dtype)) throw new SafetensorsError(`${this.path}: tensor '${name}' is ${info.dtype}; only F32, BF16 and F16 matrices are quantized`);
    const [rows, cols] = info.shape as [number, number];
    const q = frozenWeightQuantized(format, rows, cols); // new memory, written once below and kept: made 2 MiB at a time
    const width = info.dtype === 'F32' ? 4 : 2;
    if (this.file === null) throw new SafetensorsError(`${this.path}: file is closed`);
    const start = this.dataStart + info.begin;
    const mapped = start % width === 0 ? (this.file.map?.(start, info.end - info.begin) ?? null) : null; // typed views need aligned offsets
    const blockRows = Math.max(1, Math.floor(QUANTIZE_BLOCK_BYTES / Math.max(1, cols * width)));
    for (let r0 = 0; r0 < rows; r0 += blockRows) {
      const n = Math.min(blockRows, rows - r0) * cols;
      let bytes: Uint8Array;
      if (mapped) {
        bytes = mapped.subarray(r0 * cols * width, (r0 * cols + n) * width);
      } else {
        bytes = new Uint8Array(this.scratchBytes(n * width), 0, n * width);
        this.readRange(info, r0 * cols * width, bytes);
      }
      const values = info.dtype === 'F32' ? new Float32Array(bytes.buffer, bytes.byteOffset, n) : new Uint16Array(bytes.buffer, bytes.byteOffset, n);
      // These rows of the result, quantized in place.
      const rowsHere = n / cols;
      const part = new QuantizedMatrix(format, rowsHere, cols, q.codes.subarray(r0 * q.rowBytes, (r0 + rowsHere) * q.rowBytes), q.scales.subarray(r0 * q.groupsPerRow, (r0 + rowsHere) * q.groupsPerRow));
      quantizeValues(info.dtype === 'F16' ? float16ToFloat32(values as Uint16Array) : values, rowsHere, cols, format, `${what} (rows from ${r0})`, part);
      if (mapped) releaseMappedPages(bytes);
    }
    return q;
  }

  /** An integer tensor (I64, I32) as numbers. */
  readIntegers(name: string): { values: number[]; shape: number[] } {
    const info = this.info(name);
    const n = sizeOf(info.shape);
    if (info.dtype === 'I64') {
      const v = new BigInt64Array(n);
      this.readBytes(info, new Uint8Array(v.buffer));
      return { values: Array.from(v, Number), shape: info.shape };
    }
    if (info.dtype === 'I32') {
      const v = new Int32Array(n);
      this.readBytes(info, new Uint8Array(v.buffer));
      return { values: Array.from(v), shape: info.shape };
    }
    throw new SafetensorsError(`${this.path}: tensor '${name}' is ${info.dtype}, not I64 or I32`);
  }

  close(): void {
    this.file?.close();
    this.file = null;
    this.scratch = null;
  }
}

/** What saveSafetensors writes for one name: a float tensor (stored as dtype) or integers. */
export type SafetensorsEntry =
  | { tensor: Tensor; dtype?: 'F32' | 'F16' | 'BF16' }
  | { integers: ArrayLike<number>; shape: number[]; dtype: 'I64' | 'I32' };

/** Writes tensors to a safetensors file atomically (names sorted, as the Python library does). */
export function saveSafetensors(path: string, entries: Record<string, Tensor | SafetensorsEntry>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, safetensorsChunks(safetensorsRaws(entries), metadata));
}

/** Entries as their file bytes, read at the synchronous host boundary (host memory: views, not copies). */
export function safetensorsRaws(entries: Record<string, Tensor | SafetensorsEntry>): Record<string, SafetensorsRaw> {
  const raws: Record<string, SafetensorsRaw> = Object.create(null); // (a tensor may be named __proto__)
  for (const name of Object.keys(entries)) {
    const raw = entries[name]!;
    const e: SafetensorsEntry = raw instanceof Tensor ? { tensor: raw } : raw;
    let bytes: Uint8Array;
    let dtype: SafetensorsDType;
    let shape: number[];
    if ('tensor' in e) {
      dtype = e.dtype ?? (e.tensor.dtype === 'bfloat16' ? 'BF16' : e.tensor.dtype === 'float16' ? 'F16' : 'F32');
      shape = [...e.tensor.shape];
      if (e.tensor.dtype === 'bfloat16' && dtype === 'BF16') {
        const bits = e.tensor.bf16Bits;
        bytes = new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength);
      } else {
        const f = e.tensor.dtype !== 'float32' ? e.tensor.toFloat32() : null; // bfloat16, float16 or quantized
        const d = (f ?? e.tensor).read();
        if (dtype === 'F32') bytes = f ? new Uint8Array(d.slice().buffer) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
        else if (dtype === 'BF16') bytes = new Uint8Array(float32ToBf16(d).buffer);
        else bytes = new Uint8Array(float32ToFloat16(d).buffer);
        f?.dispose();
      }
    } else {
      dtype = e.dtype;
      shape = e.shape;
      if (sizeOf(shape) !== e.integers.length) throw new GiftjsError(`saveSafetensors: '${name}' has ${e.integers.length} values for shape ${shapeString(shape)}`);
      const arr = dtype === 'I64' ? BigInt64Array.from(Array.from(e.integers, (v) => BigInt(v))) : Int32Array.from(e.integers);
      bytes = new Uint8Array(arr.buffer);
    }
    raws[name] = { dtype, shape, bytes };
  }
  return raws;
}

/**
 * float32 tensors as their file bytes, read through the asynchronous host boundary (any backend).
 * Not copied: on a device backend the read is a copy already, in host memory it is the tensor's own
 * buffer, so write the bytes before any kernel runs again.
 */
export async function float32Raws(entries: Record<string, Tensor>): Promise<Record<string, SafetensorsRaw>> {
  const raws: Record<string, SafetensorsRaw> = Object.create(null); // (a tensor may be named __proto__)
  for (const [name, t] of Object.entries(entries)) {
    if (t.dtype !== 'float32') throw new GiftjsError(`safetensors: '${name}' is ${t.dtype}; only float32 tensors are read asynchronously`);
    const values = await t.readAsync();
    raws[name] = { dtype: 'F32', shape: [...t.shape], bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  }
  return raws;
}

/** One tensor as its bytes in the file (little-endian, of dtype). */
export interface SafetensorsRaw {
  dtype: SafetensorsDType;
  shape: number[];
  bytes: Uint8Array;
}

/** The names of the floating-point entries holding a NaN or an infinity (F32 and BF16 read as stored). */
export function nonFiniteEntryNames(entries: Record<string, SafetensorsRaw>): string[] {
  const bad: string[] = [];
  for (const [name, { dtype, bytes }] of Object.entries(entries)) {
    if (dtype === 'F32') {
      const v = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      for (let i = 0; i < v.length; i++) if (v[i]! - v[i]! !== 0) { bad.push(name); break; } // x - x is 0 exactly when x is finite
    } else if (dtype === 'BF16' || dtype === 'F16') {
      const v = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
      const exponent = dtype === 'BF16' ? 0x7f80 : 0x7c00; // all ones: infinity or NaN
      for (let i = 0; i < v.length; i++) if ((v[i]! & exponent) === exponent) { bad.push(name); break; }
    }
  }
  return bad;
}

/** A safetensors file as chunks to write in order: header length, header, then each tensor's bytes (names sorted). */
export function safetensorsChunks(entries: Record<string, SafetensorsRaw>, metadata: Record<string, string> = {}): Uint8Array[] {
  // Every entry's length is checked as the generator reaches it: all of them before this returns.
  const deferred: Record<string, DeferredSafetensorsRaw> = Object.create(null); // (a tensor may be named __proto__)
  for (const [name, { dtype, shape, bytes }] of Object.entries(entries)) deferred[name] = { dtype, shape, bytes: () => bytes };
  return [...deferredSafetensorsChunks(deferred, metadata)];
}

/** One tensor of a file written as it is reached: its bytes made when the writer comes to them. */
export interface DeferredSafetensorsRaw {
  dtype: SafetensorsDType;
  shape: number[];
  bytes: () => Uint8Array;
}

/**
 * The chunks of safetensorsChunks, each tensor's bytes made only when the writer reaches them, so
 * that a file larger than memory is written one tensor at a time (gift convert llama2c).
 */
export function* deferredSafetensorsChunks(entries: Record<string, DeferredSafetensorsRaw>, metadata: Record<string, string> = {}): Generator<Uint8Array> {
  const names = Object.keys(entries).sort();
  yield* headerChunks(names.map((name) => [name, entries[name]!]), metadata);
  for (const name of names) {
    const { dtype, shape, bytes: make } = entries[name]!;
    const bytes = make();
    if (bytes.length !== sizeOf(shape) * DTYPE_BYTES[dtype]) throw new GiftjsError(`safetensors: '${name}' has ${bytes.length} bytes for ${dtype} ${shapeString(shape)}`);
    yield bytes;
  }
}

/** The header's length and the header (names in the order given, their data one after another). */
function headerChunks(entries: [string, { dtype: SafetensorsDType; shape: number[] }][], metadata: Record<string, string>): Uint8Array[] {
  // No prototype: a tensor named __proto__ is a key like any other (on {} it set the prototype, and the header lost it).
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, { dtype, shape }] of entries) {
    const length = sizeOf(shape) * DTYPE_BYTES[dtype];
    header[name] = { dtype, shape, data_offsets: [offset, offset + length] };
    offset += length;
  }
  // Pad the header with spaces to a multiple of 8 bytes so the data section stays aligned.
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(json.length + ((8 - (json.length % 8)) % 8)).fill(0x20);
  padded.set(json);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(padded.length), true);
  return [len, padded];
}

/** The chunks as one array (a file to hand to a browser download). */
export function concatBytes(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

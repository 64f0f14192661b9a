// GGUF, llama.cpp's model file (version 3, little-endian), written: a header, typed metadata
// key/values, the tensor table, then each tensor's bytes at an offset aligned to 32. A tensor's
// dims are listed innermost first (ggml's ne[0] is a row's length), so a row-major [rows, cols]
// matrix is written with dims [cols, rows]. What the keys mean is the caller's business
// (models/llama/gguf.ts, io/gguf_tokenizer.ts); this file only lays them out.
import { GGML_BLOCK_TYPES } from './ggml_blocks.js';
import { GiftjsError } from '../errors.js';

/** ggml's tensor types that giftjs writes. */
export const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, BF16: 30 } as const;
export type GgmlType = (typeof GGML_TYPE)[keyof typeof GGML_TYPE];


export const GGUF_ALIGNMENT = 32;

/** The weight types `gift export --format gguf --outtype` writes. */
export type GgufOutType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0';
export const GGUF_OUT_TYPES: readonly GgufOutType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0'];

/** A model in llama.cpp's form: architecture keys and tensors (the tokenizer's keys come from its folder). */
export interface GgufModel {
  metadata: [string, GgufValue][];
  tensors: GgufTensor[];
  /** Matrices written as F32 where the type asked for cannot hold them (rows not whole blocks of 32). */
  keptF32: string[];
  /** What the user must know about how llama.cpp reads the file (said by gift export). */
  notes: string[];
}

/** A metadata value with its GGUF type (numbers need one: GGUF has ten numeric types). */
export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'u64'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'f32[]'; value: ArrayLike<number> }
  | { type: 'i32[]'; value: ArrayLike<number> };

export interface GgufTensor {
  name: string;
  /** Row-major shape as giftjs holds it ([rows, cols], or [n]). */
  shape: readonly number[];
  type: GgmlType;
  /** The bytes in ggml's layout for `type` (blocks for quantized types). */
  data: Uint8Array;
}

const VALUE_TYPE = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10 } as const;

/** Bytes a tensor of this shape takes in this type (its rows must be whole blocks). */
export function ggmlBytes(shape: readonly number[], type: GgmlType): number {
  const cols = shape[shape.length - 1] ?? 1;
  const rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const b = GGML_BLOCK_TYPES[type]!;
  return rows * (cols / b.values) * b.bytes;
}

class ByteWriter {
  private chunks: Uint8Array[] = [];
  private buf = new DataView(new ArrayBuffer(1 << 16));
  private at = 0;
  length = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.byteLength) return;
    this.flush();
    if (n > this.buf.byteLength) this.buf = new DataView(new ArrayBuffer(n));
  }
  flush(): void {
    if (this.at > 0) this.chunks.push(new Uint8Array(this.buf.buffer.slice(0, this.at)));
    this.at = 0;
  }
  u32(v: number): void {
    this.room(4);
    this.buf.setUint32(this.at, v, true);
    this.at += 4;
    this.length += 4;
  }
  i32(v: number): void {
    this.room(4);
    this.buf.setInt32(this.at, v, true);
    this.at += 4;
    this.length += 4;
  }
  u64(v: number): void {
    this.room(8);
    this.buf.setBigUint64(this.at, BigInt(v), true);
    this.at += 8;
    this.length += 8;
  }
  f32(v: number): void {
    this.room(4);
    this.buf.setFloat32(this.at, v, true);
    this.at += 4;
    this.length += 4;
  }
  u8(v: number): void {
    this.room(1);
    this.buf.setUint8(this.at, v);
    this.at += 1;
    this.length += 1;
  }
  bytes(b: Uint8Array): void {
    this.flush();
    this.chunks.push(b);
    this.length += b.length;
  }
  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  pad(alignment: number): void {
    while (this.length % alignment !== 0) this.u8(0);
  }
  done(): Uint8Array[] {
    this.flush();
    return this.chunks;
  }
}

function writeValue(w: ByteWriter, v: GgufValue): void {
  switch (v.type) {
    case 'u32': w.u32(VALUE_TYPE.u32); w.u32(v.value); return;
    case 'i32': w.u32(VALUE_TYPE.i32); w.i32(v.value); return;
    case 'f32': w.u32(VALUE_TYPE.f32); w.f32(v.value); return;
    case 'u64': w.u32(VALUE_TYPE.u64); w.u64(v.value); return;
    case 'bool': w.u32(VALUE_TYPE.bool); w.u8(v.value ? 1 : 0); return;
    case 'string': w.u32(VALUE_TYPE.string); w.string(v.value); return;
    case 'string[]':
      w.u32(VALUE_TYPE.array); w.u32(VALUE_TYPE.string); w.u64(v.value.length);
      for (const s of v.value) w.string(s);
      return;
    case 'f32[]':
      w.u32(VALUE_TYPE.array); w.u32(VALUE_TYPE.f32); w.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) w.f32(v.value[i]!);
      return;
    case 'i32[]':
      w.u32(VALUE_TYPE.array); w.u32(VALUE_TYPE.i32); w.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) w.i32(v.value[i]!);
      return;
  }
}

/** The file's bytes, as chunks for an atomic write. */
export function ggufChunks(metadata: [string, GgufValue][], tensors: GgufTensor[]): Uint8Array[] {
  const w = new ByteWriter();
  w.bytes(new TextEncoder().encode('GGUF'));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(metadata.length);
  for (const [key, value] of metadata) {
    w.string(key);
    writeValue(w, value);
  }
  let offset = 0;
  for (const t of tensors) {
    const expected = ggmlBytes(t.shape, t.type);
    if (t.data.length !== expected) throw new GiftjsError(`gguf: tensor '${t.name}' has ${t.data.length} bytes, its shape and type need ${expected}`);
    w.string(t.name);
    w.u32(t.shape.length);
    for (let i = t.shape.length - 1; i >= 0; i--) w.u64(t.shape[i]!); // innermost first
    w.u32(t.type);
    w.u64(offset);
    offset += Math.ceil(t.data.length / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;
  }
  w.pad(GGUF_ALIGNMENT);
  for (const t of tensors) {
    w.bytes(t.data);
    w.pad(GGUF_ALIGNMENT);
  }
  return w.done();
}

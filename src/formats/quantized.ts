// Quantized frozen matrices (--quantize int8|int4): a weight W [rows, cols] held as integer codes
// with one scale per group of consecutive values along a row, the scale stored as half-precision
// bits as GGUF stores its blocks' d. The rules are GGUF's, so a Q8_0/Q4_0 block and ours agree:
//   int8: per output channel (one group per row): d = absmax / 127, code = round(w / d) in
//         [-127, 127] (Q8_0's rule over the whole row), value = code * d.
//   int4: groups of 32 (Q4_0): d = m / -8 with m the value of largest magnitude, code =
//         min(15, trunc(w / d + 8.5)), value = (code - 8) * d; two codes per byte as Q4_0 lays out
//         a block of 32: byte i holds value i (low nibble) and value i + 16 (high nibble). A row
//         takes ceil(cols / 32) * 16 bytes; a short last block is padded with code 8 (value 0).
// Codes are computed from the float32 d and id = 1 / d, each step rounded to float32, and d is
// then stored rounded to half precision -- exactly ggml's quantize_row_q8_0/q4_0_ref -- so the
// native quantizer (native/gemm/quantized.cpp) writes the same bytes and GGUF's Python package the
// same blocks. A dequantized value is a small integer times a half, exact in float32.
//
// A float16 checkpoint's matrix rides on the same machinery, kept as it is stored rather than
// quantized (and never rounded to bfloat16, which would drop three mantissa bits):
//   float16: one IEEE half per value (two little-endian bytes), no scales; value = the half, exact
//            in float32. Made only from a checkpoint's F16 tensor (QuantizedMatrix.ofFloat16).
//
// GGUF's Q8_0 / Q4_0 blocks can also be held as the file stores them (interleaved, mapped rather than
// copied apart): each block of 32 is its half d, then its codes, so codes and scales are two views of
// one run of bytes -- `codes` from the first block's codes (2 bytes in), `scales` from its d -- and
// both step by blockBytes per block. The same values, read through code() and scaleBits().
//
// This file is the reference: the TypeScript backend dequantizes with it, and tests hold the
// native kernels to it.
import { GiftjsError } from '../errors.js';
import { float16ToFloat32, float32ToFloat16 } from './dtype.js';

/** What --quantize makes. */
export type QuantFormat = 'int8' | 'int4';
export const QUANT_FORMATS: readonly QuantFormat[] = ['int8', 'int4'];
/** How a matrix of this machinery holds its values: quantized, or float16 halves as stored. */
export type MatrixFormat = QuantFormat | 'float16';
const MATRIX_FORMATS: readonly MatrixFormat[] = [...QUANT_FORMATS, 'float16'];

/**
 * Refuses, by name, a format outside `allowed` (a caller from JavaScript, whom the types do not
 * stop: 'q4' or 'float32' would otherwise be taken as int8, whose code path is the other branch).
 */
export function assertFormat<F extends MatrixFormat>(format: unknown, allowed: readonly F[], what: string): asserts format is F {
  if (!allowed.includes(format as F)) throw new GiftjsError(`${what}: format '${String(format)}' is not one of ${allowed.join(', ')}`);
}

/** Values per group of one scale: int8 a whole row, int4 a Q4_0 block (float16: a row, unscaled). */
export function quantGroup(format: MatrixFormat, cols: number): number {
  return format === 'int4' ? 32 : cols;
}

/** Code bytes of one row: a byte per value (int8), whole Q4_0 blocks of 16 bytes (int4), two bytes per half (float16). */
function rowCodeBytes(format: MatrixFormat, cols: number): number {
  return format === 'float16' ? 2 * cols : format === 'int8' ? cols : Math.ceil(cols / 32) * 16;
}

/** Scales of one row: one per group (none for float16). */
function scalesPerRow(format: MatrixFormat, cols: number, group: number): number {
  return format === 'float16' ? 0 : Math.ceil(cols / group);
}

/** Bytes a [rows, cols] matrix takes in a format (codes and scales). */
export function quantizedBytes(format: MatrixFormat, rows: number, cols: number): number {
  return rows * (rowCodeBytes(format, cols) + 2 * scalesPerRow(format, cols, quantGroup(format, cols)));
}

const f32 = Math.fround;

/** A quantized matrix: a buffer of host memory (a DeviceBuffer, which asks only for a length) that the CPU backends read in their GEMMs. */
export class QuantizedMatrix {
  /** Values it stands for (rows x cols), as every buffer counts its length. */
  readonly length: number;
  readonly group: number;
  readonly groupsPerRow: number;
  readonly rowBytes: number;
  /** Bytes from one block of 32 values' codes to the next along a row (int8 per row: as if in blocks of 32). */
  readonly blockBytes: number;
  /** Half-precision slots from one scale to the next (1 unless interleaved). */
  readonly scaleStride: number;

  constructor(
    readonly format: MatrixFormat,
    readonly rows: number,
    readonly cols: number,
    readonly codes: Uint8Array,
    /** Half-precision bits of each group's d, rows x groupsPerRow. */
    readonly scales: Uint16Array,
    /** Values per scale (default quantGroup: int8 a row, int4 32); GGUF's Q8_0 is int8 in groups of 32. */
    group = quantGroup(format, cols),
    /** GGUF's blocks as stored (ofGgufBlocks): codes and scales interleaved in one run of bytes. */
    readonly interleaved = false,
  ) {
    assertFormat(format, MATRIX_FORMATS, 'QuantizedMatrix');
    this.length = rows * cols;
    if (!Number.isInteger(group) || group <= 0 || (format === 'int4' && group % 32 !== 0)) throw new GiftjsError(`QuantizedMatrix: group ${group} for ${format} (int4 groups are whole blocks of 32)`);
    if (interleaved && (format === 'float16' || group !== 32 || cols % 32 !== 0 || rows === 0)) throw new GiftjsError(`QuantizedMatrix: interleaved blocks are int8 or int4 in groups of 32 over whole blocks, not ${format} [${rows}, ${cols}] in groups of ${group}`);
    this.group = group;
    this.groupsPerRow = scalesPerRow(format, cols, this.group);
    this.blockBytes = (format === 'int4' ? 16 : 32) + (interleaved ? 2 : 0);
    this.scaleStride = interleaved ? this.blockBytes / 2 : 1;
    this.rowBytes = interleaved ? (cols / 32) * this.blockBytes : rowCodeBytes(format, cols);
    const codeBytes = rows * this.rowBytes - (interleaved ? 2 : 0);
    const scaleSlots = interleaved ? (rows * this.rowBytes) / 2 : rows * this.groupsPerRow;
    if (codes.length !== codeBytes || scales.length !== scaleSlots) {
      throw new GiftjsError(`QuantizedMatrix: ${codes.length} code bytes and ${scales.length} scales do not fit ${format} [${rows}, ${cols}]${interleaved ? ' as interleaved blocks' : ''}`);
    }
  }

  /**
   * GGUF's Q8_0 (int8) or Q4_0 (int4) blocks of a [rows, cols] matrix as the file stores them -- each
   * block a half d, then 32 or 16 code bytes -- held in place (a mapping of the file), not copied
   * apart. `blocks` must start at an even byte (GGUF aligns tensors to 32).
   */
  static ofGgufBlocks(format: QuantFormat, rows: number, cols: number, blocks: Uint8Array): QuantizedMatrix {
    if (blocks.byteOffset % 2 !== 0) throw new GiftjsError('QuantizedMatrix.ofGgufBlocks: the blocks must start at an even byte');
    const codes = blocks.subarray(2);
    const scales = new Uint16Array(blocks.buffer, blocks.byteOffset, Math.floor(blocks.byteLength / 2));
    return new QuantizedMatrix(format, rows, cols, codes, scales, 32, true);
  }

  /**
   * A float16 checkpoint tensor's bits kept as they are stored (mapped from the file where it can be):
   * the GEMM and the embedding widen them exactly as they read them.
   */
  static ofFloat16(rows: number, cols: number, halves: Uint16Array): QuantizedMatrix {
    return new QuantizedMatrix('float16', rows, cols, new Uint8Array(halves.buffer, halves.byteOffset, halves.byteLength), new Uint16Array(0));
  }

  get bits(): 8 | 4 | 16 {
    return this.format === 'float16' ? 16 : this.format === 'int8' ? 8 : 4;
  }

  /** Whether the values were quantized (int8, int4) rather than kept as float16 halves. */
  get isQuantized(): boolean {
    return this.format !== 'float16';
  }

  get bytes(): number {
    return this.interleaved ? this.rows * this.rowBytes : this.codes.byteLength + this.scales.byteLength;
  }

  /** The code of W[r, c] (signed: int4 codes less 8); quantized formats only. */
  code(r: number, c: number): number {
    if (this.format === 'float16') throw new GiftjsError('QuantizedMatrix: a float16 matrix has halves, not codes');
    const block = r * this.rowBytes + Math.floor(c / 32) * this.blockBytes;
    if (this.format === 'int8') return (this.codes[block + (c % 32)]! << 24) >> 24;
    const byte = this.codes[block + (c % 16)]!;
    return (c % 32 < 16 ? byte & 0x0f : byte >> 4) - 8;
  }

  /** The half-precision bits of row r's scale for group g. */
  scaleBits(r: number, g: number): number {
    return this.scales[(r * this.groupsPerRow + g) * this.scaleStride]!;
  }

  /** Row r's scales in order: a view where they are contiguous, else gathered from the interleaved blocks. */
  rowScaleBits(r: number): Uint16Array {
    if (this.scaleStride === 1) return this.scales.subarray(r * this.groupsPerRow, (r + 1) * this.groupsPerRow);
    return Uint16Array.from({ length: this.groupsPerRow }, (_, g) => this.scaleBits(r, g));
  }

  /** out[0..n) = W[r, c0 .. c0 + n) as float32. */
  dequantizeRow(r: number, c0: number, n: number, out: Float32Array, outOffset = 0): void {
    if (this.format === 'float16') {
      const start = this.codes.byteOffset + r * this.rowBytes + 2 * c0;
      // A view where the halves are 2-aligned, else a copy (a checkpoint's tensor may start at an odd byte).
      const halves = start % 2 === 0 ? new Uint16Array(this.codes.buffer, start, n) : new Uint16Array(this.codes.slice(start - this.codes.byteOffset, start - this.codes.byteOffset + 2 * n).buffer);
      float16ToFloat32(halves, out.subarray(outOffset, outOffset + n));
      return;
    }
    const d = new Float32Array(this.groupsPerRow);
    float16ToFloat32(this.rowScaleBits(r), d);
    for (let i = 0; i < n; i++) {
      const c = c0 + i;
      out[outOffset + i] = this.code(r, c) * d[Math.floor(c / this.group)]!;
    }
  }

  /** The whole matrix as float32 (rows x cols). */
  dequantize(out: Float32Array = new Float32Array(this.length)): Float32Array {
    for (let r = 0; r < this.rows; r++) this.dequantizeRow(r, 0, this.cols, out, r * this.cols);
    return out;
  }
}

/**
 * Quantizes a float32 matrix (or bfloat16 bits) into `format`: the reference quantizer. Refuses,
 * naming `what`, a value that is not finite or a group whose scale overflows half precision.
 */
export function quantizeReference(values: Float32Array | Uint16Array, rows: number, cols: number, format: QuantFormat, what: string, group = quantGroup(format, cols)): QuantizedMatrix {
  const q = emptyQuantized(format, rows, cols, group);
  const widened = values instanceof Uint16Array ? new Float32Array(new Uint32Array(values.length)) : null;
  if (widened) {
    const bits = new Uint32Array(widened.buffer);
    for (let i = 0; i < values.length; i++) bits[i] = values[i]! << 16;
  }
  const x = widened ?? (values as Float32Array);
  const dBits = new Uint16Array(1);
  for (let r = 0; r < rows; r++) {
    const row = r * q.rowBytes;
    if (format === 'int4') q.codes.fill(0x88, row, row + q.rowBytes);
    for (let g = 0; g < q.groupsPerRow; g++) {
      const c0 = g * q.group;
      const c1 = Math.min(cols, c0 + q.group);
      let amax = 0;
      let extreme = 0;
      for (let c = c0; c < c1; c++) {
        const v = x[r * cols + c]!;
        if (!Number.isFinite(v)) throw notQuantizable(what, `value ${v} at [${r}, ${c}]`);
        if (amax < Math.abs(v)) {
          amax = Math.abs(v);
          extreme = v;
        }
      }
      const d = format === 'int8' ? f32(amax / 127) : f32(extreme / -8);
      const id = d !== 0 ? f32(1 / d) : 0;
      float32ToFloat16(Float32Array.of(d), dBits);
      if ((dBits[0]! & 0x7c00) === 0x7c00) throw notQuantizable(what, `row ${r} reaches ${amax}, past what a half-precision scale holds`);
      q.scales[r * q.groupsPerRow + g] = dBits[0]!;
      for (let c = c0; c < c1; c++) {
        const scaled = f32(x[r * cols + c]! * id);
        if (format === 'int8') {
          q.codes[row + c] = roundHalfAway(scaled) & 0xff;
        } else {
          const code = Math.min(15, Math.trunc(f32(scaled + 8.5)));
          const at = row + Math.floor(c / 32) * 16 + (c % 16);
          q.codes[at] = c % 32 < 16 ? (q.codes[at]! & 0xf0) | code : (q.codes[at]! & 0x0f) | (code << 4);
        }
      }
    }
  }
  return q;
}

/** C's roundf: halves away from zero. */
function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** A zeroed matrix to quantize into. */
export function emptyQuantized(format: QuantFormat, rows: number, cols: number, group = quantGroup(format, cols)): QuantizedMatrix {
  return new QuantizedMatrix(format, rows, cols, new Uint8Array(rows * rowCodeBytes(format, cols)), new Uint16Array(rows * Math.ceil(cols / group)), group);
}

export function notQuantizable(what: string, why: string): GiftjsError {
  return new GiftjsError(`${what} cannot be quantized: ${why}`);
}

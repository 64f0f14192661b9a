// ggml's tensor types as bytes in a GGUF file: for each type giftjs reads, its block (values per
// block, bytes per block) and how a block turns into float32 values, as ggml's dequantize_row_*
// computes them. Layouts (ggml-common.h; the same in the gguf Python package's quants.py, which the
// tests hold these to value for value):
//   F32, F16, BF16      one value per element.
//   Q8_0  (32, 34)      d f16, 32 int8 q:                 d * q
//   Q4_0  (32, 18)      d f16, 16 bytes of nibbles:       d * (q - 8)       value i low nibble of byte i, i + 16 high
//   Q4_1  (32, 20)      d f16, m f16, 16 bytes nibbles:   d * q + m
//   Q5_0  (32, 22)      d f16, qh u32, 16 bytes nibbles:  d * (q - 16)      q = nibble | bit i of qh << 4
//   Q5_1  (32, 24)      d f16, m f16, qh u32, nibbles:    d * q + m
// k-quants: super-blocks of 256 values in sub-blocks with 4- to 8-bit scales:
//   Q2_K  (256, 84)     scales[16] (low nibble scale, high nibble min), qs[64] (2 bits), d, dmin
//   Q3_K  (256, 110)    hmask[32], qs[64] (2 bits), scales[12] (16 6-bit scales, less 32), d
//   Q4_K  (256, 144)    d, dmin, scales[12] (8 6-bit scales and mins), qs[128] (4 bits)
//   Q5_K  (256, 176)    d, dmin, scales[12], qh[32], qs[128]
//   Q6_K  (256, 210)    ql[128], qh[64], scales[16] int8, d
// i-quants with 4-bit codes into a non-linear table of 16 values (IQ4_NL_VALUES):
//   IQ4_NL (32, 18)     d f16, 16 bytes of nibbles:       d * table[q]     value i low nibble of byte i, i + 16 high
//   IQ4_XS (256, 136)   d f16, scales_h u16, scales_l[4], qs[128]: sub-block j of 32 has the 6-bit scale
//                       (low nibble j of scales_l) | (bits 2j, 2j + 1 of scales_h) << 4, less 32
// Every value here is one rounding of an exact product (an f16 d times a scale of at most 8 bits times
// a code of at most 8 bits fits float64 exactly), as ggml's are, so computing in float64 and storing
// once gives ggml's bits. Types not in the table (the other i-quants, ternary, MXFP4) are refused by
// name where a tensor is read.
import { bf16ToFloat32, float16ToFloat32 } from '../formats/dtype.js';

export interface GgmlBlockType {
  name: string;
  /** Values per block, and bytes per block. */
  values: number;
  bytes: number;
  /** Writes `blocks` whole blocks of bytes as float32 values into out (blocks x values of them). */
  decode(bytes: Uint8Array, blocks: number, out: Float32Array): void;
}

let halves: Float32Array | null = null;
/** Every half-precision bit pattern's float32 value (256 KB, built at the first use). */
function halfTable(): Float32Array {
  return (halves ??= float16ToFloat32(Uint16Array.from({ length: 65536 }, (_, h) => h)));
}

/** A quantized type from the decoder of one block: the block at b[at..] as `values` values at out[o..]. */
function quantizedType(name: string, values: number, bytes: number, decodeOne: (b: Uint8Array, at: number, out: Float32Array, o: number) => void): GgmlBlockType {
  return {
    name, values, bytes,
    decode: (b, blocks, out) => {
      for (let k = 0; k < blocks; k++) decodeOne(b, k * bytes, out, k * values);
    },
  };
}

/** The bytes as little-endian 16-bit words (copied: a slice of a file may start at an odd byte). */
const words = (b: Uint8Array) => new Uint16Array(b.slice().buffer);

const half = (b: Uint8Array, at: number) => halfTable()[b[at]! | (b[at + 1]! << 8)]!;

/** IQ4_NL's and IQ4_XS's 16 levels (ggml's kvalues_iq4nl). */
const IQ4_NL_VALUES = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/** 32 values from 16 bytes of nibbles at qs: value j from the low nibble of byte j, j + 16 from its high one, each scale * table[q]. */
function decodeIq4(b: Uint8Array, qs: number, scale: number, out: Float32Array, o: number): void {
  for (let j = 0; j < 16; j++) {
    const q = b[qs + j]!;
    out[o + j] = scale * IQ4_NL_VALUES[q & 0x0f]!;
    out[o + j + 16] = scale * IQ4_NL_VALUES[q >> 4]!;
  }
}

/** Q4_K / Q5_K: the j-th (0..7) 6-bit scale and min of the 12 packed bytes at s. */
function scaleMinK4(b: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [b[s + j]! & 63, b[s + j + 4]! & 63];
  return [(b[s + j + 4]! & 0x0f) | ((b[s + j - 4]! >> 6) << 4), (b[s + j + 4]! >> 4) | ((b[s + j]! >> 6) << 4)];
}

/**
 * Q4_K and Q5_K: d, dmin, 12 bytes of packed scales and mins, then (Q5_K) qh at `qh` and the nibbles
 * at `qs`: sub-block 2c (low nibbles) and 2c + 1 (high nibbles) of qs[32c .. 32c + 32), 32 values each,
 * value = d * scale * q - dmin * min. qh < 0: no fifth bit (Q4_K).
 */
function decodeK4(b: Uint8Array, at: number, out: Float32Array, o: number, qs: number, qh: number): void {
  const d = half(b, at);
  const dmin = half(b, at + 2);
  for (let j = 0; j < 8; j++) {
    const [sc, m] = scaleMinK4(b, at + 4, j);
    const dl = d * sc;
    const ml = dmin * m;
    const shift = 4 * (j & 1);
    const row = qs + 32 * (j >> 1);
    for (let l = 0; l < 32; l++) {
      const high = qh < 0 ? 0 : ((b[qh + l]! >> j) & 1) << 4;
      out[o + 32 * j + l] = dl * (((b[row + l]! >> shift) & 0x0f) | high) - ml;
    }
  }
}

/** Q3_K: the j-th (0..15) 6-bit scale of the 12 packed bytes at s, less 32. */
function scaleK3(b: Uint8Array, s: number, j: number): number {
  const low = j < 8 ? b[s + j]! & 0x0f : b[s + j - 8]! >> 4;
  const high = (b[s + 8 + (j % 4)]! >> (2 * Math.floor(j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

export const GGML_BLOCK_TYPES: Record<number, GgmlBlockType> = {
  0: { name: 'F32', values: 1, bytes: 4, decode: (b, n, out) => out.set(new Float32Array(b.slice(0, 4 * n).buffer)) },
  1: { name: 'F16', values: 1, bytes: 2, decode: (b, n, out) => void float16ToFloat32(words(b.subarray(0, 2 * n)), out) },
  30: { name: 'BF16', values: 1, bytes: 2, decode: (b, n, out) => void bf16ToFloat32(words(b.subarray(0, 2 * n)), out) },
  8: quantizedType('Q8_0', 32, 34, (b, at, out, o) => {
    const d = half(b, at);
    for (let i = 0; i < 32; i++) out[o + i] = d * ((b[at + 2 + i]! << 24) >> 24);
  }),
  2: quantizedType('Q4_0', 32, 18, (b, at, out, o) => {
    const d = half(b, at);
    for (let i = 0; i < 16; i++) {
      const q = b[at + 2 + i]!;
      out[o + i] = d * ((q & 0x0f) - 8);
      out[o + i + 16] = d * ((q >> 4) - 8);
    }
  }),
  3: quantizedType('Q4_1', 32, 20, (b, at, out, o) => {
    const d = half(b, at);
    const m = half(b, at + 2);
    for (let i = 0; i < 16; i++) {
      const q = b[at + 4 + i]!;
      out[o + i] = d * (q & 0x0f) + m;
      out[o + i + 16] = d * (q >> 4) + m;
    }
  }),
  6: quantizedType('Q5_0', 32, 22, (b, at, out, o) => {
    const d = half(b, at);
    const qh = (b[at + 2]! | (b[at + 3]! << 8) | (b[at + 4]! << 16) | (b[at + 5]! << 24)) >>> 0;
    for (let i = 0; i < 16; i++) {
      const q = b[at + 6 + i]!;
      out[o + i] = d * (((q & 0x0f) | (((qh >>> i) & 1) << 4)) - 16);
      out[o + i + 16] = d * (((q >> 4) | (((qh >>> (i + 16)) & 1) << 4)) - 16);
    }
  }),
  7: quantizedType('Q5_1', 32, 24, (b, at, out, o) => {
    const d = half(b, at);
    const m = half(b, at + 2);
    const qh = (b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24)) >>> 0;
    for (let i = 0; i < 16; i++) {
      const q = b[at + 8 + i]!;
      out[o + i] = d * ((q & 0x0f) | (((qh >>> i) & 1) << 4)) + m;
      out[o + i + 16] = d * ((q >> 4) | (((qh >>> (i + 16)) & 1) << 4)) + m;
    }
  }),
  10: quantizedType('Q2_K', 256, 84, (b, at, out, o) => {
    const d = half(b, at + 80);
    const dmin = half(b, at + 82);
    // Value 128c + 32s + l is bits 2s..2s+1 of qs[32c + l]; its sub-block of 16 is (128c + 32s + l) / 16.
    for (let c = 0; c < 2; c++) {
      for (let s = 0; s < 4; s++) {
        for (let l = 0; l < 32; l++) {
          const i = 128 * c + 32 * s + l;
          const sc = b[at + (i >> 4)]!;
          const q = (b[at + 16 + 32 * c + l]! >> (2 * s)) & 3;
          out[o + i] = d * (sc & 0x0f) * q - dmin * (sc >> 4);
        }
      }
    }
  }),
  11: quantizedType('Q3_K', 256, 110, (b, at, out, o) => {
    const d = half(b, at + 108);
    // Value 128c + 32s + l: low 2 bits from qs[32c + l] >> 2s, high bit from hmask[l] bit 4c + s
    // (a set bit means no offset, a clear one subtracts 4).
    for (let c = 0; c < 2; c++) {
      for (let s = 0; s < 4; s++) {
        for (let l = 0; l < 32; l++) {
          const i = 128 * c + 32 * s + l;
          const low = (b[at + 32 + 32 * c + l]! >> (2 * s)) & 3;
          const high = (b[at + l]! >> (4 * c + s)) & 1;
          out[o + i] = d * scaleK3(b, at + 96, i >> 4) * (low - (high ? 0 : 4));
        }
      }
    }
  }),
  12: quantizedType('Q4_K', 256, 144, (b, at, out, o) => decodeK4(b, at, out, o, at + 16, -1)),
  // As Q4_K, with qh[32] before the nibbles: the fifth bit of sub-block j's value l is bit j of qh[l].
  13: quantizedType('Q5_K', 256, 176, (b, at, out, o) => decodeK4(b, at, out, o, at + 48, at + 16)),
  14: quantizedType('Q6_K', 256, 210, (b, at, out, o) => {
    const d = half(b, at + 208);
    // Value 128c + 64h + k (k < 64): low 4 bits from ql[64c + k] >> 4h; value 128c + 32s + l: high
    // 2 bits from qh[32c + l] >> 2s. Sub-blocks of 16 with an int8 scale each.
    for (let c = 0; c < 2; c++) {
      for (let s = 0; s < 4; s++) {
        for (let l = 0; l < 32; l++) {
          const i = 128 * c + 32 * s + l;
          const k = i - 128 * c; // 0..127 within the half
          const low = (b[at + 64 * c + (k & 63)]! >> (4 * (k >> 6))) & 0x0f;
          const high = (b[at + 128 + 32 * c + l]! >> (2 * s)) & 3;
          const scale = (b[at + 192 + (i >> 4)]! << 24) >> 24;
          out[o + i] = d * scale * ((low | (high << 4)) - 32);
        }
      }
    }
  }),
  20: quantizedType('IQ4_NL', 32, 18, (b, at, out, o) => decodeIq4(b, at + 2, half(b, at), out, o)),
  23: quantizedType('IQ4_XS', 256, 136, (b, at, out, o) => {
    const d = half(b, at);
    const scalesH = b[at + 2]! | (b[at + 3]! << 8);
    for (let j = 0; j < 8; j++) {
      const scale = ((b[at + 4 + (j >> 1)]! >> (4 * (j & 1))) & 0x0f) | (((scalesH >> (2 * j)) & 3) << 4);
      decodeIq4(b, at + 8 + 16 * j, d * (scale - 32), out, o + 32 * j);
    }
  }),
};

/** Names of the types giftjs does not read, for the message that refuses them. */
export const UNREAD_GGML_TYPES: Record<number, string> = {
  9: 'Q8_1', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 21: 'IQ3_S', 22: 'IQ2_S',
  29: 'IQ1_M', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};

/** The names of the types read, for messages. */
export function readGgmlTypeNames(): string {
  return Object.values(GGML_BLOCK_TYPES).map((t) => t.name).join(', ');
}

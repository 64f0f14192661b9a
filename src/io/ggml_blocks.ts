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
// Every product here is exact in float32 before its last rounding (an f16 d times a scale of at most
// 8 bits times a code of at most 6 bits), so computing in float64 and storing once gives ggml's bits.
// Types not in the table (i-quants, ternary, MXFP4) are refused by name where a tensor is read.
import { bf16ToFloat32, float16ToFloat32 } from '../tensor/dtype.js';

export interface GgmlBlockType {
  name: string;
  /** Values per block, and bytes per block. */
  values: number;
  bytes: number;
  /** Writes the block at bytes[at..] as `values` float32 values at out[o..]. */
  decode(bytes: Uint8Array, at: number, out: Float32Array, o: number): void;
}

let halves: Float32Array | null = null;
/** Every half-precision bit pattern's float32 value (256 KB, built at the first use). */
function halfTable(): Float32Array {
  if (halves) return halves;
  halves = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const frac = h & 0x3ff;
    halves[h] = exp === 0 ? sign * frac * 2 ** -24 : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return halves;
}

const half = (b: Uint8Array, at: number) => halfTable()[b[at]! | (b[at + 1]! << 8)]!;

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
  0: {
    name: 'F32', values: 1, bytes: 4,
    decode: (b, at, out, o) => {
      out[o] = new DataView(b.buffer, b.byteOffset + at, 4).getFloat32(0, true);
    },
  },
  1: { name: 'F16', values: 1, bytes: 2, decode: (b, at, out, o) => void (out[o] = half(b, at)) },
  30: {
    name: 'BF16', values: 1, bytes: 2,
    decode: (b, at, out, o) => {
      out[o] = new Float32Array(new Uint32Array([(b[at]! | (b[at + 1]! << 8)) << 16]).buffer)[0]!;
    },
  },
  8: {
    name: 'Q8_0', values: 32, bytes: 34,
    decode: (b, at, out, o) => {
      const d = half(b, at);
      for (let i = 0; i < 32; i++) out[o + i] = d * ((b[at + 2 + i]! << 24) >> 24);
    },
  },
  2: {
    name: 'Q4_0', values: 32, bytes: 18,
    decode: (b, at, out, o) => {
      const d = half(b, at);
      for (let i = 0; i < 16; i++) {
        const q = b[at + 2 + i]!;
        out[o + i] = d * ((q & 0x0f) - 8);
        out[o + i + 16] = d * ((q >> 4) - 8);
      }
    },
  },
  3: {
    name: 'Q4_1', values: 32, bytes: 20,
    decode: (b, at, out, o) => {
      const d = half(b, at);
      const m = half(b, at + 2);
      for (let i = 0; i < 16; i++) {
        const q = b[at + 4 + i]!;
        out[o + i] = d * (q & 0x0f) + m;
        out[o + i + 16] = d * (q >> 4) + m;
      }
    },
  },
  6: {
    name: 'Q5_0', values: 32, bytes: 22,
    decode: (b, at, out, o) => {
      const d = half(b, at);
      const qh = (b[at + 2]! | (b[at + 3]! << 8) | (b[at + 4]! << 16) | (b[at + 5]! << 24)) >>> 0;
      for (let i = 0; i < 16; i++) {
        const q = b[at + 6 + i]!;
        out[o + i] = d * (((q & 0x0f) | (((qh >>> i) & 1) << 4)) - 16);
        out[o + i + 16] = d * (((q >> 4) | (((qh >>> (i + 16)) & 1) << 4)) - 16);
      }
    },
  },
  7: {
    name: 'Q5_1', values: 32, bytes: 24,
    decode: (b, at, out, o) => {
      const d = half(b, at);
      const m = half(b, at + 2);
      const qh = (b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24)) >>> 0;
      for (let i = 0; i < 16; i++) {
        const q = b[at + 8 + i]!;
        out[o + i] = d * ((q & 0x0f) | (((qh >>> i) & 1) << 4)) + m;
        out[o + i + 16] = d * ((q >> 4) | (((qh >>> (i + 16)) & 1) << 4)) + m;
      }
    },
  },
  10: {
    name: 'Q2_K', values: 256, bytes: 84,
    decode: (b, at, out, o) => {
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
    },
  },
  11: {
    name: 'Q3_K', values: 256, bytes: 110,
    decode: (b, at, out, o) => {
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
    },
  },
  12: { name: 'Q4_K', values: 256, bytes: 144, decode: (b, at, out, o) => decodeK4(b, at, out, o, at + 16, -1) },
  // As Q4_K, with qh[32] before the nibbles: the fifth bit of sub-block j's value l is bit j of qh[l].
  13: { name: 'Q5_K', values: 256, bytes: 176, decode: (b, at, out, o) => decodeK4(b, at, out, o, at + 48, at + 16) },
  14: {
    name: 'Q6_K', values: 256, bytes: 210,
    decode: (b, at, out, o) => {
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
    },
  },
};

/** Names of the types giftjs does not read, for the message that refuses them. */
export const UNREAD_GGML_TYPES: Record<number, string> = {
  9: 'Q8_1', 15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S', 23: 'IQ4_XS',
  29: 'IQ1_M', 34: 'TQ1_0', 35: 'TQ2_0', 39: 'MXFP4',
};

/** The names of the types read, for messages. */
export function readGgmlTypeNames(): string {
  return Object.values(GGML_BLOCK_TYPES).map((t) => t.name).join(', ');
}

/** Decodes whole blocks of `type` from bytes into out (out.length values). */
export function decodeBlocks(type: GgmlBlockType, bytes: Uint8Array, out: Float32Array): void {
  // The unquantized types a whole slice at a time (the per-value decoders say the same, slowly).
  if (type.name === 'F32') return void out.set(new Float32Array(bytes.slice().buffer));
  if (type.name === 'F16') return void float16ToFloat32(new Uint16Array(bytes.slice().buffer), out);
  if (type.name === 'BF16') return void bf16ToFloat32(new Uint16Array(bytes.slice().buffer), out);
  const blocks = out.length / type.values;
  for (let k = 0; k < blocks; k++) type.decode(bytes, k * type.bytes, out, k * type.values);
}

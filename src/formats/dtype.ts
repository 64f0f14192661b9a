// Storage types. giftjs computes in float32; bf16 and f16 exist only as storage (checkpoint
// files, compact weights) and are converted when loaded or saved.

export type StorageDType = 'F32' | 'BF16' | 'F16';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bfloat16 bits (upper half of a float32) to float32 values. */
export function bf16ToFloat32(bits: Uint16Array, out: Float32Array = new Float32Array(bits.length)): Float32Array {
  const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i]! << 16;
  return out;
}

/**
 * float32 to bfloat16 bits, rounding to nearest even (NaN stays NaN). With flushDenormals, zero and
 * denormal values become a zero of their sign, as the CPU's vcvtneps2bf16 converts them (bf16 dot
 * products); storage keeps them, as PyTorch's conversion does.
 */
export function float32ToBf16(values: Float32Array, out: Uint16Array = new Uint16Array(values.length), flushDenormals = false): Uint16Array {
  const inBits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) {
    const x = inBits[i]!;
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x007fffff) !== 0) {
      out[i] = (x >>> 16) | 0x0040; // quiet NaN
    } else if (flushDenormals && (x & 0x7f800000) === 0) {
      out[i] = (x >>> 16) & 0x8000;
    } else {
      out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
    }
  }
  return out;
}

/** IEEE half-precision bits to float32 values (subnormals, infinities and NaN included). */
export function float16ToFloat32(bits: Uint16Array, out: Float32Array = new Float32Array(bits.length)): Float32Array {
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) out[i] = sign * frac * 2 ** -24;
    else if (exp === 31) out[i] = frac ? NaN : sign * Infinity;
    else out[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/** float32 to IEEE half-precision bits, rounding to nearest even; overflow gives infinity. */
export function float32ToFloat16(values: Float32Array, out: Uint16Array = new Uint16Array(values.length)): Uint16Array {
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i]!;
    const x = u32[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    let e = exp - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      let r = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      if (rem > half || (rem === half && r & 1)) r++;
      out[i] = sign | r;
      continue;
    }
    let r = mant >>> 13;
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && r & 1)) {
      r++;
      if (r === 0x400) {
        r = 0;
        e++;
        if (e >= 31) {
          out[i] = sign | 0x7c00;
          continue;
        }
      }
    }
    out[i] = sign | (e << 10) | r;
  }
  return out;
}

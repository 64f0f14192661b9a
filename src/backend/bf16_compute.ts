// Whether bfloat16 weights are multiplied with bf16 dot products (activations rounded to bf16,
// float32 accumulation) instead of being widened to float32. Off by default.
let enabled = false;

export function bf16ComputeEnabled(): boolean {
  return enabled;
}

export function setBf16ComputeFlag(on: boolean): void {
  enabled = on;
}

/**
 * The float32 values a bf16 dot product multiplies: each value rounded to bfloat16 exactly as the
 * CPU's vcvtneps2bf16 rounds it (nearest even, NaN kept quiet, zero and denormals to a zero of the
 * same sign). The reference kernels use it to emulate the native ones value for value.
 */
export function roundedForBf16Product(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  const inBits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const x = inBits[i]!;
    let h: number;
    if ((x & 0x7fffffff) > 0x7f800000) h = (x >>> 16) | 0x40;
    else if ((x & 0x7f800000) === 0) h = (x >>> 16) & 0x8000;
    else h = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
    outBits[i] = h << 16;
  }
  return out;
}

// The ref backend's bf16 compute (Backend.setBf16Compute): whether its gemm and attention emulate bf16
// dot products (float32 operands rounded to bf16, bfloat16 weights read as stored, float32
// accumulation), as under autocast. Off by default. The native backend keeps its own switch, in C++.
import { bf16ToFloat32, float32ToBf16 } from '../formats/dtype.js';

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
  return bf16ToFloat32(float32ToBf16(values, undefined, true));
}

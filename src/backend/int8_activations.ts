// The ref backend's int8 activations (Backend.setInt8Activations): whether its products over
// quantized weights (a prompt's prefill and decoding) round the activations to Q8_0 and take integer
// dot products, as llama.cpp's CPU inference does and the native kernels do under the same switch (native/gemm/quantized.h). Off by
// default. The native backend keeps its own switch, in C++.
import { QuantizedMatrix, quantizeReference } from '../formats/quantized.js';
import { float16ToFloat32 } from '../formats/dtype.js';

let enabled = false;

export function int8ActivationsEnabled(): boolean {
  return enabled;
}

export function setInt8ActivationsFlag(on: boolean): void {
  enabled = on;
}

/** Products the switch changes: rows of whole blocks of 32; int4 in blocks of 32, int8 in groups of 32 (Q8_0) or per row. */
export function int8ActivationsFit(w: QuantizedMatrix): boolean {
  if (w.cols % 32 !== 0) return false;
  return (w.format === 'int4' && w.group === 32) || (w.format === 'int8' && (w.group === 32 || w.group === w.cols));
}

/**
 * out[j] = sum over blocks b of dW(j, b) * dx(b) * sum_i codeW(j, i) * codeX(i), in float64, for one
 * activation row x (w.cols values) rounded to Q8_0 by the reference quantizer; null when x has a
 * value that is not finite or too large for a half-precision scale (the caller takes the float
 * product, which carries it on).
 */
export function int8ActivationsRow(x: Float32Array, w: QuantizedMatrix): Float64Array | null {
  if (!x.every(Number.isFinite)) return null;
  let q: QuantizedMatrix;
  try {
    q = quantizeReference(x, 1, w.cols, 'int8', 'activations', 32);
  } catch {
    return null; // a scale past half precision
  }
  const blocks = w.cols / 32;
  const dx = float16ToFloat32(q.scales, new Float32Array(blocks));
  const dw = new Float32Array(w.groupsPerRow);
  const xCodes = Int8Array.from({ length: w.cols }, (_, c) => q.code(0, c));
  const out = new Float64Array(w.rows);
  for (let j = 0; j < w.rows; j++) {
    float16ToFloat32(w.rowScaleBits(j), dw);
    let total = 0;
    for (let b = 0; b < blocks; b++) {
      let sum = 0;
      for (let i = b * 32; i < b * 32 + 32; i++) sum += w.code(j, i) * xCodes[i]!;
      total += dw[Math.floor((b * 32) / w.group)]! * dx[b]! * sum;
    }
    out[j] = total;
  }
  return out;
}

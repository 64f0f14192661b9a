// Dropout's mask from a counter-based hash: value i of a tensor is dropped where
// dropoutDraw(key0, key1, i) < dropBelow, so the mask is a function of the call's key and the index
// alone. The kernels compute it where they multiply (in parallel, never stored) and the backward
// computes the same mask again from the same key; every backend draws it bit for bit alike
// (native/kernels/dropout_mask.h and webgpu/kernels/dropout.ts mirror this file). Attention's dropout
// draws the same hash over the flat indices of its [B, H, T, S] probabilities (ref/attention.ts).
//
// The hash is two rounds of lowbias32 (Chris Wellons' 32-bit integer hash: xor-shift, multiply,
// xor-shift, multiply, xor-shift), the key's first word added before the first round and its
// second xored in between: for one key, i -> draw is a bijection of 32-bit integers.

/** lowbias32: a bijective 32-bit mix with low bias. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The uniform 32-bit draw of value `index` under the key (key0, key1). */
export function dropoutDraw(key0: number, key1: number, index: number): number {
  return mix32((mix32((index + key0) >>> 0) ^ key1) >>> 0);
}

/** The draws are 32-bit: a tensor of more values would repeat its mask. */
export const MAX_DROPOUT_VALUES = 2 ** 32;

/**
 * The threshold that drops a value with probability p: draw < ceil(p 2^32) exactly when draw / 2^32 < p,
 * held below 2^32 (a p within 2^-32 of 1 keeps the draw 2^32 - 1).
 */
export function dropBelowOf(p: number): number {
  return Math.min(Math.ceil(p * 4294967296), 0xffffffff);
}

/** out[i] = x[i] * (dropoutDraw(key0, key1, i) < dropBelow ? 0 : keepScale), keepScale as float32; out may be x. */
export function refDropoutMultiply(x: Float32Array, out: Float32Array, n: number, key0: number, key1: number, dropBelow: number, keepScale: number): void {
  const keep = Math.fround(keepScale);
  for (let i = 0; i < n; i++) out[i] = x[i]! * (dropoutDraw(key0, key1, i) < dropBelow ? 0 : keep);
}

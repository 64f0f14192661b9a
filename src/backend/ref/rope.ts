// Reference RoPE kernel (rotary position embeddings, rotate-half form).
type F = Float32Array;

/** RoPE in the rotate-half form on rows of D values; row r sits at position r % T. */
export function refRopeRotate(src: F, dst: F, cos: F, sin: F, rows: number, T: number, D: number, direction: 1 | -1): void {
  const half = D / 2;
  for (let r = 0; r < rows; r++) {
    const t = r % T;
    const o = r * D;
    for (let i = 0; i < half; i++) {
      const c = cos[t * half + i]!;
      const s = sin[t * half + i]! * direction;
      const x1 = src[o + i]!;
      const x2 = src[o + half + i]!;
      dst[o + i] = x1 * c - x2 * s;
      dst[o + half + i] = x2 * c + x1 * s;
    }
  }
}

// Float64 reference math, written independently of giftjs's kernels: plain loops over number[]
// that follow the textbook definitions. Tests compare both backends against these.
import { erf } from '../src/backend/ref/activations.js';

export type Mat = number[];

/** C[M,N] = A[M,K] B[K,N] (row-major flat arrays). */
export function matmul64(A: ArrayLike<number>, B: ArrayLike<number>, M: number, K: number, N: number): number[] {
  const C = new Array<number>(M * N).fill(0);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += A[i * K + k]! * B[k * N + j]!;
    C[i * N + j] = s;
  }
  return C;
}

export function transpose64(A: ArrayLike<number>, rows: number, cols: number): number[] {
  const T = new Array<number>(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) T[j * rows + i] = A[i * cols + j]!;
  return T;
}

export function rmsNorm64(x: ArrayLike<number>, w: ArrayLike<number>, cols: number, eps: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / cols; r++) {
    let ms = 0;
    for (let j = 0; j < cols; j++) ms += x[r * cols + j]! ** 2 / cols;
    for (let j = 0; j < cols; j++) out.push((x[r * cols + j]! / Math.sqrt(ms + eps)) * w[j]!);
  }
  return out;
}

export function layerNorm64(x: ArrayLike<number>, w: ArrayLike<number> | null, b: ArrayLike<number> | null, cols: number, eps: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / cols; r++) {
    const row = Array.from({ length: cols }, (_, j) => x[r * cols + j]!);
    const mu = row.reduce((a, v) => a + v, 0) / cols;
    const variance = row.reduce((a, v) => a + (v - mu) ** 2, 0) / cols;
    row.forEach((v, j) => out.push(((v - mu) / Math.sqrt(variance + eps)) * (w ? w[j]! : 1) + (b ? b[j]! : 0)));
  }
  return out;
}

export function softmax64(x: ArrayLike<number>, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / cols; r++) {
    const row = Array.from({ length: cols }, (_, j) => x[r * cols + j]!);
    const mx = row.reduce((a, v) => (v > a ? v : a), -Infinity);
    const e = row.map((v) => Math.exp(v - mx));
    const s = e.reduce((a, v) => a + v, 0);
    for (const v of e) out.push(v / s);
  }
  return out;
}

export function logSoftmax64(x: ArrayLike<number>, cols: number): number[] {
  return softmax64(x, cols).map(Math.log);
}

/** Per-row cross-entropy, NaN marking ignored rows. */
export function crossEntropyRows64(logits: ArrayLike<number>, targets: ArrayLike<number>, vocab: number, ignore: number): number[] {
  const lp = logSoftmax64(logits, vocab);
  return Array.from({ length: targets.length }, (_, r) => (targets[r] === ignore ? NaN : -lp[r * vocab + targets[r]!]!));
}

export function gelu64(x: number, approximate: 'none' | 'tanh'): number {
  if (approximate === 'tanh') return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

export function silu64(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** Hugging Face apply_rotary_pos_emb on x [rows, T, D] (rows = batch * heads). */
export function rope64(x: ArrayLike<number>, T: number, D: number, theta: number, offset: number, invFreq?: ArrayLike<number>): number[] {
  const out = new Array<number>(x.length);
  const half = D / 2;
  for (let r = 0; r < x.length / (T * D); r++) for (let t = 0; t < T; t++) {
    const base = (r * T + t) * D;
    // emb = cat(freqs, freqs); rotate_half(x) = cat(-x2, x1)
    for (let i = 0; i < D; i++) {
      const freq = (t + offset) * (invFreq ? invFreq[i % half]! : 1 / theta ** ((2 * (i % half)) / D));
      const rotated = i < half ? -x[base + i + half]! : x[base + i - half]!;
      out[base + i] = x[base + i]! * Math.cos(freq) + rotated * Math.sin(freq);
    }
  }
  return out;
}

/** Naive attention with an explicit additive mask; q [B,H,T,D], k/v [B,Hkv,S,D]. */
export function attention64(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>,
  B: number, H: number, Hkv: number, T: number, S: number, D: number,
  causal: boolean, keyMask: ArrayLike<number> | null, window = 0, softcap = 0, segmented = false,
): number[] {
  const out = new Array<number>(B * H * T * D).fill(0);
  const scale = 1 / Math.sqrt(D);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const kv = Math.floor(h / (H / Hkv));
    for (let t = 0; t < T; t++) {
      const scores: number[] = [];
      for (let j = 0; j < S; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += q[((b * H + h) * T + t) * D + d]! * k[((b * Hkv + kv) * S + j) * D + d]!;
        const position = t + (S - T);
        const otherSegment = segmented && keyMask![b * S + j] !== keyMask![b * S + position];
        const masked = (causal && j > position) || (window > 0 && j <= position - window) || otherSegment || (keyMask !== null && keyMask[b * S + j] === 0);
        scores.push(masked ? -Infinity : softcap > 0 ? softcap * Math.tanh((s * scale) / softcap) : s * scale);
      }
      if (scores.every((s) => s === -Infinity)) continue;
      const p = softmax64(scores, S);
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j < S; j++) acc += p[j]! * v[((b * Hkv + kv) * S + j) * D + d]!;
        out[((b * H + h) * T + t) * D + d] = acc;
      }
    }
  }
  return out;
}

// Reference scaled dot-product attention: explicit loops over batch, head, query and key.
import type { AttentionShape } from '../backend.js';

type F = Float32Array;

function visible(s: AttentionShape, keyMask: F | null, b: number, t: number, j: number): boolean {
  if (s.causal && j > t + s.S - s.T) return false;
  return !keyMask || keyMask[b * s.S + j] !== 0;
}

/** Softmax probabilities of one query row, written into p (zeros when nothing is visible). */
function rowProbabilities(s: AttentionShape, q: F, k: F, keyMask: F | null, b: number, h: number, t: number, p: Float64Array): number {
  const group = s.H / s.Hkv;
  const qo = ((b * s.H + h) * s.T + t) * s.D;
  const ko = (b * s.Hkv + Math.floor(h / group)) * s.S * s.D;
  let mx = -Infinity;
  for (let j = 0; j < s.S; j++) {
    if (!visible(s, keyMask, b, t, j)) {
      p[j] = -Infinity;
      continue;
    }
    let dot = 0;
    for (let d = 0; d < s.D; d++) dot += q[qo + d]! * k[ko + j * s.D + d]!;
    p[j] = dot * s.scale;
    if (p[j]! > mx || Number.isNaN(p[j]!)) mx = Number.isNaN(mx) ? mx : p[j]!;
  }
  if (mx === -Infinity) {
    p.fill(0);
    return -Infinity;
  }
  let sum = 0;
  for (let j = 0; j < s.S; j++) sum += p[j] = Math.exp(p[j]! - mx);
  for (let j = 0; j < s.S; j++) p[j]! /= sum;
  return mx + Math.log(sum);
}

export function refAttentionForward(s: AttentionShape, q: F, k: F, v: F, keyMask: F | null, out: F, lse: F): void {
  const group = s.H / s.Hkv;
  const p = new Float64Array(s.S);
  for (let b = 0; b < s.B; b++) {
    for (let h = 0; h < s.H; h++) {
      const vo = (b * s.Hkv + Math.floor(h / group)) * s.S * s.D;
      for (let t = 0; t < s.T; t++) {
        const row = (b * s.H + h) * s.T + t;
        lse[row] = rowProbabilities(s, q, k, keyMask, b, h, t, p);
        for (let d = 0; d < s.D; d++) {
          let acc = 0;
          for (let j = 0; j < s.S; j++) acc += p[j]! * v[vo + j * s.D + d]!;
          out[row * s.D + d] = acc;
        }
      }
    }
  }
}

export function refAttentionBackward(s: AttentionShape, q: F, k: F, v: F, keyMask: F | null, out: F, _lse: F, dout: F, dq: F | null, dk: F | null, dv: F | null): void {
  const group = s.H / s.Hkv;
  const p = new Float64Array(s.S);
  const dp = new Float64Array(s.S);
  dk?.fill(0);
  dv?.fill(0);
  for (let b = 0; b < s.B; b++) {
    for (let h = 0; h < s.H; h++) {
      const kvo = (b * s.Hkv + Math.floor(h / group)) * s.S * s.D;
      for (let t = 0; t < s.T; t++) {
        const row = (b * s.H + h) * s.T + t;
        rowProbabilities(s, q, k, keyMask, b, h, t, p);
        // D_t = sum_d dO * O ;  dP_j = dO . v_j ;  dS_j = P_j (dP_j - D_t)
        let di = 0;
        for (let d = 0; d < s.D; d++) di += dout[row * s.D + d]! * out[row * s.D + d]!;
        for (let j = 0; j < s.S; j++) {
          let acc = 0;
          for (let d = 0; d < s.D; d++) acc += dout[row * s.D + d]! * v[kvo + j * s.D + d]!;
          dp[j] = p[j]! * (acc - di) * s.scale;
          if (dv) for (let d = 0; d < s.D; d++) dv[kvo + j * s.D + d]! += p[j]! * dout[row * s.D + d]!;
        }
        if (dq) {
          for (let d = 0; d < s.D; d++) {
            let acc = 0;
            for (let j = 0; j < s.S; j++) acc += dp[j]! * k[kvo + j * s.D + d]!;
            dq[row * s.D + d] = acc;
          }
        }
        if (dk) {
          for (let j = 0; j < s.S; j++) {
            for (let d = 0; d < s.D; d++) dk[kvo + j * s.D + d]! += dp[j]! * q[row * s.D + d]!;
          }
        }
      }
    }
  }
}

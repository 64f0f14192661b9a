// Reference scaled dot-product attention: explicit loops over batch, head, query and key.
// With bf16 compute on, every product's operands are rounded to bf16 as the native kernel rounds
// them (Q, K, V, dO, and the float32 probabilities and dS), the sums staying wide.
import { GiftjsError } from '../../errors.js';
import type { AttentionShape } from '../backend.js';
import { bf16ComputeEnabled, roundedForBf16Product } from '../bf16_compute.js';
import { dropoutDraw } from './dropout.js';

type F = Float32Array;

/** The operand as the products see it: rounded to bf16 under bf16 compute, else itself. */
function productOperand(a: F): F {
  return bf16ComputeEnabled() ? roundedForBf16Product(a) : a;
}

const one = new Float32Array(1);
/** A float64 value stored as float32 (as the native kernel keeps P and dS), then as a product operand. */
function productScalar(x: number): number {
  if (!bf16ComputeEnabled()) return x;
  one[0] = x;
  return productOperand(one)[0]!;
}

/**
 * What attention's dropout multiplies probability j of query row `row` (b H T + h T + t) by: 0 where
 * dropped, else the keep scale as float32 (1 without dropout).
 */
function dropFactor(s: AttentionShape, row: number, j: number): number {
  const d = s.dropout;
  if (!d) return 1;
  return dropoutDraw(d.key0, d.key1, (row * s.S + j) >>> 0) < d.dropBelow ? 0 : Math.fround(d.keepScale);
}

function visible(s: AttentionShape, keyMask: F | null, b: number, t: number, j: number): boolean {
  if (s.causal && j > t + s.S - s.T) return false;
  if (s.window > 0 && j <= t + s.S - s.T - s.window) return false;
  if (s.segmented && keyMask![b * s.S + j] !== keyMask![b * s.S + t + s.S - s.T]) return false;
  return !keyMask || keyMask[b * s.S + j] !== 0;
}

/**
 * Softmax probabilities of one query row, written into p (zeros when nothing is visible); with a
 * softcap, capGrad[j] receives d(capped score)/d(scaled score) = 1 - tanh^2.
 */
function rowProbabilities(s: AttentionShape, q: F, k: F, keyMask: F | null, b: number, h: number, t: number, p: Float64Array, capGrad: Float64Array | null = null): number {
  const group = s.H / s.Hkv;
  const qo = ((b * s.H + h) * s.T + t) * s.D;
  const ko = (b * s.Hkv + Math.floor(h / group)) * s.kvRows * s.D;
  let mx = -Infinity;
  for (let j = 0; j < s.S; j++) {
    if (!visible(s, keyMask, b, t, j)) {
      p[j] = -Infinity;
      continue;
    }
    let dot = 0;
    for (let d = 0; d < s.D; d++) dot += q[qo + d]! * k[ko + j * s.D + d]!;
    p[j] = dot * s.scale;
    if (s.softcap > 0) {
      const th = Math.tanh(p[j]! / s.softcap);
      p[j] = s.softcap * th;
      if (capGrad) capGrad[j] = 1 - th * th;
    }
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

export function refAttentionForward(s: AttentionShape, q0: F, k0: F, v0: F, keyMask: F | null, out: F, lse: F): void {
  const [q, k, v] = [productOperand(q0), productOperand(k0), productOperand(v0)];
  const group = s.H / s.Hkv;
  const p = new Float64Array(s.S);
  const weights = new Float64Array(s.S); // what weighs v: the probabilities, dropped, as product operands
  for (let b = 0; b < s.B; b++) {
    for (let h = 0; h < s.H; h++) {
      const vo = (b * s.Hkv + Math.floor(h / group)) * s.kvRows * s.D;
      for (let t = 0; t < s.T; t++) {
        const row = (b * s.H + h) * s.T + t;
        lse[row] = rowProbabilities(s, q, k, keyMask, b, h, t, p);
        for (let j = 0; j < s.S; j++) weights[j] = productScalar(p[j]! * dropFactor(s, row, j));
        for (let d = 0; d < s.D; d++) {
          let acc = 0;
          for (let j = 0; j < s.S; j++) acc += weights[j]! * v[vo + j * s.D + d]!;
          out[row * s.D + d] = acc;
        }
      }
    }
  }
}

export function refAttentionBackward(s: AttentionShape, q0: F, k0: F, v0: F, keyMask: F | null, out: F, _lse: F, dout: F, dq: F | null, dk: F | null, dv: F | null): void {
  if (s.kvRows !== s.S) throw new GiftjsError('attentionBackward: k and v must hold exactly the keys (kvRows = S)');
  const [q, k, v, g] = [productOperand(q0), productOperand(k0), productOperand(v0), productOperand(dout)];
  const group = s.H / s.Hkv;
  const p = new Float64Array(s.S);
  const dp = new Float64Array(s.S);
  const capGrad = s.softcap > 0 ? new Float64Array(s.S) : null;
  dk?.fill(0);
  dv?.fill(0);
  for (let b = 0; b < s.B; b++) {
    for (let h = 0; h < s.H; h++) {
      const kvo = (b * s.Hkv + Math.floor(h / group)) * s.S * s.D;
      for (let t = 0; t < s.T; t++) {
        const row = (b * s.H + h) * s.T + t;
        rowProbabilities(s, q, k, keyMask, b, h, t, p, capGrad);
        // D_t = sum_d dO * O ;  dP_j = dO . v_j ;  dS_j = P_j (dP_j - D_t)
        let di = 0;
        for (let d = 0; d < s.D; d++) di += dout[row * s.D + d]! * out[row * s.D + d]!;
        for (let j = 0; j < s.S; j++) {
          let acc = 0;
          for (let d = 0; d < s.D; d++) acc += g[row * s.D + d]! * v[kvo + j * s.D + d]!;
          // Dropped: O = (P m) V, so dP_j = m_j (dO . v_j), and sum_j P_j dP_j is still dO . O.
          const m = dropFactor(s, row, j);
          dp[j] = p[j]! * (m * acc - di) * s.scale * (capGrad ? capGrad[j]! : 1);
          const pj = productScalar(p[j]! * m);
          if (dv) for (let d = 0; d < s.D; d++) dv[kvo + j * s.D + d]! += pj * g[row * s.D + d]!;
        }
        if (bf16ComputeEnabled()) for (let j = 0; j < s.S; j++) dp[j] = productScalar(dp[j]!);
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

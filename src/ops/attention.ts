// Scaled dot-product attention with causal and key-padding masks, grouped-query heads and (for
// encoders in training) dropout on the probabilities, in the backends' fused kernels.
import type { AttentionDropout, AttentionShape } from '../backend/backend.js';
import { MAX_DROPOUT_VALUES } from '../backend/ref/dropout.js';
import { getBackend } from '../backend/index.js';
import { markValueNeeded, needsRecording, record } from '../tensor/autograd.js';
import type { Random } from '../tensor/random.js';
import { shapeString } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { GiftjsError, refuseUnknownOptions } from '../errors.js';
import { drawsAsRandom, dropout, dropoutKey } from './dropout.js';
import { add, scale } from './elementwise.js';
import { matmul } from './matmul.js';
import { softmax } from './softmax.js';

export interface AttentionOptions {
  /** Each query sees only keys at or before its own position (queries are the last T of S). */
  causal?: boolean;
  /** [B, S]: 1 for a real key, 0 for padding that no query may attend to. */
  keyPaddingMask?: Float32Array | Tensor | null;
  /**
   * Sliding-window attention (Mistral, Qwen2, Gemma's local layers), with `causal` only: the query at
   * position p sees the `window` keys p - window < j <= p. Positions count key slots (padding
   * included), as transformers counts cache positions. Omitted or 0: no window.
   */
  window?: number;
  /** Soft-capping of the scaled scores (Gemma 2's attn_logit_softcapping): cap * tanh(s / cap). Omitted or 0: none. */
  softcap?: number;
  /**
   * Packed sequences (with `causal`): keyPaddingMask holds each key's segment id (0 = padding, 1, 2, ...
   * for the examples packed into the row) and a query sees only the keys of its own segment.
   */
  segmented?: boolean;
  /** Defaults to 1 / sqrt(headDim). */
  scale?: number;
  /**
   * k and v hold more rows per head than there are keys (a KV cache allocated ahead, [B, Hkv,
   * capacity, D]): only their first keyLength rows are keys. Forward only (generation): a gradient
   * through such k, v is refused. Omitted: every row is a key.
   */
  keyLength?: number;
  /**
   * Dropout on the attention probabilities (BERT's attention_probs_dropout_prob, in training): each
   * probability zeroed with probability p, the others scaled by 1 / (1 - p), before they weigh v
   * (encoders only: a key padding mask at most, as many key/value heads as query heads). The fused
   * kernels draw the mask inside (a key of two draws from rng a call; the mask dropout() would draw
   * over the [B, H, T, S] probabilities with that key) and again in the backward, holding nothing. A
   * generator whose draws a subclass replaces (a test's fixed pattern) composes the attention of
   * matmul, softmax and dropout() instead, holding the probabilities.
   */
  dropout?: { p: number; rng: Random };
}

/** The additive mask of finfo(float32).min that transformers' eager attention adds to padded keys. */
const MASKED_SCORE = -3.4028234663852886e38;

/**
 * softmax(q k^T * scale + masks) v with q [B, H, T, D] and k, v [B, Hkv, S, D], where H is a
 * multiple of Hkv (grouped-query attention: query head h uses key/value head h / (H / Hkv)).
 * A query row that can see no key at all outputs zeros.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const where = (): string => `attention(q ${shapeString(q.shape)}, k ${shapeString(k.shape)}, v ${shapeString(v.shape)})`;
  refuseUnknownOptions(options, ['causal', 'keyPaddingMask', 'window', 'softcap', 'segmented', 'scale', 'keyLength', 'dropout'], 'scaledDotProductAttention');
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) throw new GiftjsError(`${where()}: q, k and v must be 4-D [batch, heads, seq, headDim]`);
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const [Bk, Hkv, kvRows, Dk] = k.shape as [number, number, number, number];
  const S = options.keyLength ?? kvRows;
  if (!Number.isInteger(S) || S < 0 || S > kvRows) throw new GiftjsError(`${where()}: keyLength must be a whole number from 0 to k's ${kvRows} rows, got ${S}`);
  if (S !== kvRows && needsRecording([q, k, v])) throw new GiftjsError(`${where()}: keyLength (${S} of ${kvRows} rows) is for generation without gradients; attention's backward needs k and v of exactly the keys`);
  if (Bk !== B || Dk !== D) throw new GiftjsError(`${where()}: k must be [${B}, heads, seq, ${D}]`);
  if (v.shape.some((d, i) => d !== k.shape[i])) throw new GiftjsError(`${where()}: v must have k's shape`);
  if (Hkv === 0 || H % Hkv !== 0) throw new GiftjsError(`${where()}: query heads (${H}) must be a multiple of key/value heads (${Hkv})`);
  const window = options.window ?? 0;
  if (!Number.isInteger(window) || window < 0) throw new GiftjsError(`${where()}: window must be a non-negative integer, got ${window}`);
  const softcap = options.softcap ?? 0;
  if (!(softcap >= 0) || !Number.isFinite(softcap)) throw new GiftjsError(`${where()}: softcap must be a non-negative number, got ${softcap}`);
  const segmented = options.segmented ?? false;
  if (segmented && (!options.causal || !options.keyPaddingMask)) throw new GiftjsError(`${where()}: segmented attention needs the causal mask and the segment ids in keyPaddingMask`);
  if (window > 0 && !options.causal) throw new GiftjsError(`${where()}: a sliding window needs the causal mask`);
  if (options.causal && T > S) throw new GiftjsError(`${where()}: a causal mask needs at least as many keys as queries`);
  const maskSource = options.keyPaddingMask ?? null;
  const maskLength = maskSource === null ? null : maskSource instanceof Tensor ? maskSource.size : maskSource.length;
  if (maskLength !== null && maskLength !== B * S) throw new GiftjsError(`${where()}: keyPaddingMask must hold ${B} x ${S} values, got ${maskLength}`);
  let dropping: AttentionDropout | undefined;
  if (options.dropout) {
    refuseUnknownOptions(options.dropout, ['p', 'rng'], 'scaledDotProductAttention dropout');
    const { p, rng } = options.dropout;
    if (!(p >= 0 && p < 1)) throw new GiftjsError(`${where()}: dropout's p must be in [0, 1), got ${p}`);
    if (options.causal || window > 0 || softcap > 0 || segmented || S !== kvRows || Hkv !== H) {
      throw new GiftjsError(`${where()}: dropout is for encoder attention (no causal mask, window, softcap, segments or KV cache; as many key/value heads as query heads)`);
    }
    if (p > 0) {
      if (!drawsAsRandom(rng, where())) return composedAttention(q, k, v, maskSource, options.scale ?? 1 / Math.sqrt(D), (probabilities) => dropout(probabilities, p, rng));
      if (B * H * T * S > MAX_DROPOUT_VALUES) throw new GiftjsError(`${where()}: dropout over ${B * H * T * S} probabilities is more than the 2^32 its 32-bit draws tell apart`);
      // dropout()'s key: the same mask over the same probabilities.
      dropping = dropoutKey(p, rng);
    }
  }
  // A host mask goes to the backend once per call ([B, S] values); the backward reuses it.
  const maskTensor = maskSource === null || maskSource instanceof Tensor ? maskSource : new Tensor(Float32Array.from(maskSource), [B, S]);
  const mask = maskTensor?.buffer ?? null;
  const shape: AttentionShape = { B, H, Hkv, T, S, D, scale: options.scale ?? 1 / Math.sqrt(D), causal: options.causal ?? false, window, softcap, segmented, kvRows, ...(dropping ? { dropout: dropping } : {}) };
  const out = Tensor.empty([B, H, T, D]);
  const lse = Tensor.empty([B, H, T]);
  getBackend().attentionForward(shape, q.buffer, k.buffer, v.buffer, mask, out.buffer, lse.buffer);
  return record('attention', out, [q, k, v], (g, needs) => {
    const dq = needs[0] ? Tensor.empty(q.shape) : null;
    const dk = needs[1] ? Tensor.empty(k.shape) : null;
    const dv = needs[2] ? Tensor.empty(v.shape) : null;
    getBackend().attentionBackward(shape, q.buffer, k.buffer, v.buffer, mask, out.buffer, lse.buffer, g.buffer, dq?.buffer ?? null, dk?.buffer ?? null, dv?.buffer ?? null);
    return [dq, dk, dv];
  }, maskTensor && maskTensor !== maskSource ? [lse, maskTensor] : [lse]);
  // (record marks q, k, v, the output and what it saves; a caller's mask tensor is read too.)
  if (out.requiresGrad) markValueNeeded(maskTensor);
}

/**
 * softmax(q k^T * scale + mask) v with drop() on the probabilities, as transformers' eager attention
 * computes it ([B, H, T, S] probabilities held): padded keys take finfo.min before softmax, so their
 * probability is 0 (a row with no real key would weigh every key alike; an encoder's rows always
 * have their first token).
 */
function composedAttention(q: Tensor, k: Tensor, v: Tensor, keyPaddingMask: Float32Array | Tensor | null, s: number, drop: (p: Tensor) => Tensor): Tensor {
  const B = q.shape[0]!;
  const S = k.shape[2]!;
  let scores = scale(matmul(q, k, { transposeB: true }), s); // [B, H, T, S]
  if (keyPaddingMask) {
    const mask = keyPaddingMask instanceof Tensor ? keyPaddingMask.toFloat32Array() : keyPaddingMask;
    scores = add(scores, Tensor.fromHost([B, 1, 1, S], (o) => {
      for (let i = 0; i < o.length; i++) o[i] = mask[i]! > 0 ? 0 : MASKED_SCORE;
    }));
  }
  return matmul(drop(softmax(scores)), v); // [B, H, T, D]
}

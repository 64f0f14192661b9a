// Rotary position embeddings in Hugging Face's rotate-half convention:
//   out = x * cos + rotate_half(x) * sin,   rotate_half([x1, x2]) = [-x2, x1]
// where x1 and x2 are the first and second halves of each head vector and the angle of pair i
// at position p is p * invFreq[i]. (Meta's original code rotates interleaved pairs instead;
// converted checkpoints permute q/k rows so that this form gives the same result.)
import { getBackend } from '../backend/index.js';
import { READS_NOTHING_OF_ONE, record } from '../tensor/autograd.js';
import { shapeString } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { GiftjsError, refuseUnknownOptions } from '../errors.js';
import { concat, slice } from './shape_ops.js';

export interface RopeOptions {
  /** Base of the frequencies (rope_theta); 10000 by default. */
  theta?: number;
  /** Position of the first row (for generation with a KV cache). */
  positionOffset?: number;
  /** Precomputed inverse frequencies (length headDim / 2), e.g. Llama 3's scaled ones. */
  invFreq?: Float32Array | Float64Array;
  /** Each row's own position (length seq), instead of positionOffset + row: packed sequences restart at 0. */
  positions?: ArrayLike<number>;
  /** cos and sin multiplied by this (LongRoPE's attention factor); 1 by default. */
  scale?: number;
}

/** Inverse frequencies theta^(-2i/d) for i < d/2, in float64. */
export function ropeInverseFrequencies(headDim: number, theta = 10000): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / theta ** ((2 * i) / headDim);
  return inv;
}

// cos/sin tables [T, half], computed on the host in float64 and rounded once. Every layer of a
// forward rotates q and k at the same positions, so the tables are kept per inverse-frequency
// array (a model's own) and (T, offset): recomputing them was 2 x layers x T x half cos and sin
// calls per forward, about 1% of a SmolLM2 training step. A hit is checked against a copy of the
// frequencies, so an array changed in place is never served stale tables.
interface CachedTables {
  invFreq: Float64Array;
  cos: Float32Array;
  sin: Float32Array;
}
const tableCache = new WeakMap<Float32Array | Float64Array, Map<string, CachedTables>>();
const MAX_CACHED_SHAPES = 32; // generation asks for a new offset every token

function hostTables(invFreq: Float32Array | Float64Array, T: number, offset: number, positions: ArrayLike<number> | undefined, scale: number): [Float32Array, Float32Array] {
  if (positions) return tablesAt(invFreq, Array.from({ length: T }, (_, t) => positions[t]!), scale);
  let byShape = tableCache.get(invFreq);
  if (!byShape) tableCache.set(invFreq, (byShape = new Map()));
  const key = `${T}:${offset}:${scale}`;
  const hit = byShape.get(key);
  if (hit && hit.invFreq.every((f, i) => f === invFreq[i])) return [hit.cos, hit.sin];
  const [cos, sin] = tablesAt(invFreq, Array.from({ length: T }, (_, t) => t + offset), scale);
  if (byShape.size >= MAX_CACHED_SHAPES) byShape.clear();
  byShape.set(key, { invFreq: Float64Array.from(invFreq), cos, sin });
  return [cos, sin];
}

/** scale * cos and scale * sin of position * frequency for each position, in float64, rounded once. */
function tablesAt(invFreq: Float32Array | Float64Array, positions: readonly number[], scale: number): [Float32Array, Float32Array] {
  const half = invFreq.length;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  positions.forEach((p, t) => {
    for (let i = 0; i < half; i++) {
      const angle = p * invFreq[i]!;
      cos[t * half + i] = scale * Math.cos(angle);
      sin[t * half + i] = scale * Math.sin(angle);
    }
  });
  return [cos, sin];
}

/** x [..., T, D]: every leading index (batch, head) is rotated by its row's position. */
export function rope(x: Tensor, options: RopeOptions = {}): Tensor {
  refuseUnknownOptions(options, ['theta', 'positionOffset', 'invFreq', 'positions', 'scale'], 'rope');
  if (x.rank < 2) throw new GiftjsError(`rope: x ${shapeString(x.shape)} must be [..., seq, headDim]`);
  const T = x.shape[x.rank - 2]!;
  const D = x.shape[x.rank - 1]!;
  if (D % 2 !== 0) throw new GiftjsError(`rope: head dimension ${D} of x ${shapeString(x.shape)} must be even`);
  const half = D / 2;
  const invFreq = options.invFreq ?? ropeInverseFrequencies(D, options.theta ?? 10000);
  if (invFreq.length !== half) throw new GiftjsError(`rope: invFreq has ${invFreq.length} values, head dimension ${D} needs ${half}`);
  if (options.positions && options.positions.length !== T) throw new GiftjsError(`rope: ${options.positions.length} positions for ${T} rows`);
  const scale = options.scale ?? 1;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new GiftjsError(`rope: scale ${scale} must be a positive number`);
  // A theta of 0 or below makes NaN frequencies, a NaN or fractional offset NaN or in-between angles.
  if (options.theta !== undefined && !(options.theta > 0 && Number.isFinite(options.theta))) throw new GiftjsError(`rope: theta ${options.theta} must be a positive number`);
  const offset = options.positionOffset ?? 0;
  if (!(Number.isInteger(offset) && offset >= 0)) throw new GiftjsError(`rope: positionOffset ${offset} must be a whole number >= 0`);
  const badPosition = options.positions ? Array.prototype.findIndex.call(options.positions, (p: number) => !(Number.isInteger(p) && p >= 0)) : -1;
  if (badPosition >= 0) throw new GiftjsError(`rope: position ${options.positions![badPosition]} of row ${badPosition} must be a whole number >= 0`);
  const [cosHost, sinHost] = hostTables(invFreq, T, offset, options.positions, scale);
  // Wrapped, not copied: in host memory the tensors' buffers are the cache's own arrays (never written
  // after they are made; disposing a wrapped array frees nothing), a device gets them uploaded. Copied
  // into pooled buffers, they took two more buffers for each of a decoded token's 2 x layers calls.
  const cosT = new Tensor(cosHost, [T, half]);
  const sinT = new Tensor(sinHost, [T, half]);
  const cos = cosT.buffer;
  const sin = sinT.buffer;
  const rows = D === 0 ? 0 : x.size / D;
  const out = Tensor.empty(x.shape);
  getBackend().ropeRotate(x.buffer, out.buffer, cos, sin, rows, T, D, +1);
  return record('rope', out, [x], (g) => {
    const dx = Tensor.empty(x.shape);
    getBackend().ropeRotate(g.buffer, dx.buffer, cos, sin, rows, T, D, -1); // the transpose of a rotation is the rotation by -angle
    return [dx];
  }, [cosT, sinT], READS_NOTHING_OF_ONE);
}

/**
 * x [B, H, T, D] with each batch row at its own positions ([B * T]: packed sequences, each restarting
 * at 0): the rows rotated one batch row at a time.
 */
export function ropeAtPositions(x: Tensor, positions: ArrayLike<number>, options: Omit<RopeOptions, 'positions' | 'positionOffset'> = {}): Tensor {
  if (x.rank !== 4) throw new GiftjsError(`ropeAtPositions: x ${shapeString(x.shape)} must be [batch, heads, seq, headDim]`);
  const [B, , T] = x.shape as [number, number, number, number];
  if (positions.length !== B * T) throw new GiftjsError(`ropeAtPositions: ${positions.length} positions for batch ${B} x seq ${T}`);
  const rows = Array.from({ length: B }, (_, b) => rope(slice(x, 0, b, b + 1), { ...options, positions: Array.from({ length: T }, (_, t) => positions[b * T + t]!) }));
  return B === 1 ? rows[0]! : concat(rows, 0);
}

/**
 * A partial rotary embedding (Phi-2's, Phi-3's partial_rotary_factor): `rotate` applied to the first
 * rotaryDim dimensions of each head (the last axis of x [..., headDim]), the rest passed through.
 */
export function rotateLeadingDims(x: Tensor, rotaryDim: number, rotate: (t: Tensor) => Tensor): Tensor {
  const axis = x.rank - 1;
  const headDim = x.shape[axis]!;
  if (rotaryDim === headDim) return rotate(x);
  return concat([rotate(slice(x, axis, 0, rotaryDim)), slice(x, axis, rotaryDim, headDim)], axis);
}

// RoPE as config.json describes it (transformers 5's rope_parameters, 4's rope_theta and
// rope_scaling), parsed and turned into inverse frequencies; shared by the causal-LM families.
import { GiftjsError } from '../errors.js';

/** RoPE scaling as config.json names it (rope_type). */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
  | LongRope
  | Yarn;

/**
 * Phi-3.5/Phi-4's LongRoPE: a factor per frequency, the short ones while a forward's positions stay
 * within the pretraining length, the long ones past it (as transformers decides per forward:
 * positions past + seq > originalMaxPositionEmbeddings), and cos/sin scaled by attentionFactor.
 */
export interface LongRope {
  type: 'longrope';
  shortFactor: number[];
  longFactor: number[];
  originalMaxPositionEmbeddings: number;
  /** The context extension (max_position_embeddings / original, unless given) ... */
  factor: number;
  /** ... and the scale of cos and sin it implies: sqrt(1 + ln(factor) / ln(original)), 1 when factor <= 1. */
  attentionFactor: number;
}

/**
 * YaRN (Qwen3's and others' context extension): each frequency blended between itself (extrapolated)
 * and itself divided by `factor` (interpolated) along a ramp over the dimensions whose wavelengths
 * fit between betaFast and betaSlow rotations of the pretraining length, and cos/sin scaled by
 * attentionFactor; the same frequencies at every position (transformers' static YaRN).
 */
export interface Yarn {
  type: 'yarn';
  factor: number;
  originalMaxPositionEmbeddings: number;
  betaFast: number;
  betaSlow: number;
  /** Round the ramp's ends to whole dimensions (transformers' default). */
  truncate: boolean;
  /** 0.1 ln(factor) + 1 unless given (or the ratio of two such with mscale and mscale_all_dim); 1 when factor <= 1. */
  attentionFactor: number;
}

/** A RoPE base, its scaling (null: none), and the fraction of each head it rotates. */
export interface Rope {
  theta: number;
  scaling: RopeScaling | null;
  /** Phi-3's partial_rotary_factor: RoPE over the first (head_dim * it) dimensions, the rest passed through; 1 by default. */
  partialRotaryFactor?: number;
}

/** What a family implements beyond the default, linear and llama3 types. */
export interface RopeSupport {
  /** LongRoPE (Phi-3.5, Phi-4-mini): the family switches short/long frequencies per forward and scales cos/sin. */
  longrope?: boolean;
  /** partial_rotary_factor below 1 (Phi-3's attention rotates the first dimensions only). */
  partialRotary?: boolean;
  /** YaRN: the family scales cos/sin by its attention factor. */
  yarn?: boolean;
}

const ROPE_KEYS: Record<string, readonly string[]> = {
  default: [],
  linear: ['factor'],
  llama3: ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
  longrope: ['short_factor', 'long_factor', 'original_max_position_embeddings', 'factor', 'attention_factor'],
  yarn: ['factor', 'original_max_position_embeddings', 'attention_factor', 'beta_fast', 'beta_slow', 'mscale', 'mscale_all_dim', 'truncate'],
};

/**
 * RoPE's base and scaling from either layout: transformers 5's `rope_parameters` ({rope_theta,
 * rope_type, ...}) or transformers 4's top-level `rope_theta` and `rope_scaling`. A type or a key
 * giftjs does not implement is refused by name; so are the two layouts disagreeing.
 */
export function parseRope(raw: Record<string, unknown>, fail: (msg: string) => never, support: RopeSupport = {}): Rope {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const params = raw.rope_parameters;
  const legacy = raw.rope_scaling;
  if (params !== undefined && params !== null && !isObject(params)) fail(`'rope_parameters' must be an object, got ${JSON.stringify(params)}`);
  if (legacy !== undefined && legacy !== null && !isObject(legacy)) fail(`'rope_scaling' must be an object or null, got ${JSON.stringify(legacy)}`);
  if (isObject(params) && !('rope_type' in params) && !('rope_theta' in params) && Object.values(params).some(isObject)) {
    fail(`rope_parameters per layer type (${Object.keys(params).join(', ')}) are not supported`);
  }
  const field = isObject(params) ? 'rope_parameters' : 'rope_scaling';
  const p: Record<string, unknown> = isObject(params) ? params : isObject(legacy) ? legacy : {};
  const type = p.rope_type ?? p.type ?? 'default';
  if (typeof type !== 'string' || !Object.hasOwn(ROPE_KEYS, type)) {
    fail(`${field} type ${JSON.stringify(type)} is not supported (supported: ${Object.keys(ROPE_KEYS).join(', ')})`);
  }
  if (type === 'longrope' && !support.longrope) fail(`${field} type "longrope" is not supported for this architecture (giftjs implements it for Phi3ForCausalLM)`);
  if (type === 'yarn' && !support.yarn) fail(`${field} type "yarn" is not supported for this architecture (giftjs implements it for LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM and Qwen3ForCausalLM)`);
  const needed = ROPE_KEYS[type as string]!;
  for (const key of Object.keys(p)) {
    if (key === 'rope_type' || key === 'type' || key === 'rope_theta' || key === 'partial_rotary_factor' || needed.includes(key)) continue;
    fail(`${field}.${key} (${JSON.stringify(p[key])}) is not supported with rope type '${String(type)}'`);
  }
  const partialRotaryFactor = parsePartialRotary(raw, p, field, fail, support);
  const positive = (key: string, v: unknown): number => {
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) return fail(`${key} must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const topTheta = raw.rope_theta;
  const innerTheta = p.rope_theta;
  if (topTheta !== undefined && innerTheta !== undefined && topTheta !== innerTheta) {
    fail(`rope_theta ${JSON.stringify(topTheta)} and ${field}.rope_theta ${JSON.stringify(innerTheta)} disagree`);
  }
  if (isObject(params) && isObject(legacy) && JSON.stringify(legacy) !== JSON.stringify(params)) {
    const legacyType = legacy.rope_type ?? legacy.type ?? 'default';
    if (legacyType !== type || needed.some((k) => legacy[k] !== p[k])) fail(`rope_scaling and rope_parameters disagree`);
  }
  const theta = innerTheta !== undefined ? positive(`${field}.rope_theta`, innerTheta) : topTheta !== undefined ? positive('rope_theta', topTheta) : 10000;
  const partial = partialRotaryFactor === 1 ? {} : { partialRotaryFactor };
  if (type === 'default') return { theta, scaling: null, ...partial };
  if (type === 'longrope') return { theta, scaling: parseLongRope(raw, p, field, fail, positive), ...partial };
  if (type === 'yarn') return { theta, scaling: parseYarn(raw, p, field, fail, positive), ...partial };
  const values = Object.fromEntries(needed.map((k) => {
    if (p[k] === undefined) fail(`${field}.${k} is required for rope type '${type}'`);
    return [k, positive(`${field}.${k}`, p[k])];
  }));
  if (type === 'linear') return { theta, scaling: { type: 'linear', factor: values.factor! }, ...partial };
  if (!(values.high_freq_factor! > values.low_freq_factor!)) {
    fail(`${field}.high_freq_factor (${values.high_freq_factor}) must be larger than low_freq_factor (${values.low_freq_factor})`);
  }
  return {
    theta,
    scaling: {
      type: 'llama3',
      factor: values.factor!,
      lowFreqFactor: values.low_freq_factor!,
      highFreqFactor: values.high_freq_factor!,
      originalMaxPositionEmbeddings: values.original_max_position_embeddings!,
    },
    ...partial,
  };
}

/** partial_rotary_factor, top-level or in the RoPE parameters (transformers 5 writes both); 1 unless the family rotates part of a head. */
function parsePartialRotary(raw: Record<string, unknown>, p: Record<string, unknown>, field: string, fail: (msg: string) => never, support: RopeSupport): number {
  const top = raw.partial_rotary_factor ?? undefined;
  const inner = p.partial_rotary_factor ?? undefined;
  if (top !== undefined && inner !== undefined && top !== inner) fail(`partial_rotary_factor ${JSON.stringify(top)} and ${field}.partial_rotary_factor ${JSON.stringify(inner)} disagree`);
  const value = inner ?? top ?? 1;
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) fail(`partial_rotary_factor must be a number in (0, 1], got ${JSON.stringify(value)}`);
  if (value !== 1 && !support.partialRotary) fail(`partial_rotary_factor ${JSON.stringify(value)} is not supported for this architecture (only 1: RoPE over the whole head)`);
  return value as number;
}

/** original_max_position_embeddings from the RoPE parameters or the top level (Phi-3 writes both: they must agree); undefined where neither has it. */
function pretrainingLength(raw: Record<string, unknown>, p: Record<string, unknown>, field: string, fail: (msg: string) => never): unknown {
  const [inner, top] = [p.original_max_position_embeddings, raw.original_max_position_embeddings];
  if (inner !== undefined && top !== undefined && inner !== top) {
    fail(`original_max_position_embeddings ${JSON.stringify(top)} and ${field}.original_max_position_embeddings ${JSON.stringify(inner)} disagree`);
  }
  return inner ?? top;
}

/** LongRoPE's factors and lengths, with transformers' defaults for what the config leaves out. */
function parseLongRope(raw: Record<string, unknown>, p: Record<string, unknown>, field: string, fail: (msg: string) => never, positive: (key: string, v: unknown) => number): LongRope {
  const factors = (key: string): number[] => {
    const v = p[key];
    if (!Array.isArray(v) || v.length === 0) return fail(`${field}.${key} must be a list of positive numbers (one per rotated frequency), got ${JSON.stringify(v)?.slice(0, 80)}`);
    return v.map((f, i) => positive(`${field}.${key}[${i}]`, f));
  };
  const shortFactor = factors('short_factor');
  const longFactor = factors('long_factor');
  if (shortFactor.length !== longFactor.length) fail(`${field}.short_factor has ${shortFactor.length} values and long_factor ${longFactor.length}`);
  const given = pretrainingLength(raw, p, field, fail);
  if (given === undefined) fail(`rope type 'longrope' needs original_max_position_embeddings (the pretraining length)`);
  const original = positive('original_max_position_embeddings', given);
  const factor = p.factor !== undefined ? positive(`${field}.factor`, p.factor) : positive('max_position_embeddings', raw.max_position_embeddings ?? 2048) / original;
  const attentionFactor = p.attention_factor !== undefined ? positive(`${field}.attention_factor`, p.attention_factor) : factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
  return { type: 'longrope', shortFactor, longFactor, originalMaxPositionEmbeddings: original, factor, attentionFactor };
}

/**
 * YaRN's numbers as transformers 5.17 reads them (_compute_yarn_parameters): the factor, else
 * max_position_embeddings / original; the pretraining length from the RoPE parameters or the top level
 * (both: they must agree), else max_position_embeddings; beta_fast 32 and beta_slow 1 where absent;
 * truncate true unless false.
 */
function parseYarn(raw: Record<string, unknown>, p: Record<string, unknown>, field: string, fail: (msg: string) => never, positive: (key: string, v: unknown) => number): Yarn {
  const maxPositions = positive('max_position_embeddings', raw.max_position_embeddings ?? 2048);
  const original = positive('original_max_position_embeddings', pretrainingLength(raw, p, field, fail) ?? maxPositions);
  const optional = (key: string): number | null => (p[key] === undefined || p[key] === null ? null : positive(`${field}.${key}`, p[key]));
  const factor = optional('factor') ?? maxPositions / original;
  const mscaleOf = (scale: number, mscale = 1) => (scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1);
  const [mscale, mscaleAllDim] = [optional('mscale'), optional('mscale_all_dim')];
  const attentionFactor = optional('attention_factor') ?? (mscale && mscaleAllDim ? mscaleOf(factor, mscale) / mscaleOf(factor, mscaleAllDim) : mscaleOf(factor));
  const truncate = p.truncate ?? true;
  if (typeof truncate !== 'boolean') fail(`${field}.truncate must be true or false, got ${JSON.stringify(truncate)}`);
  return { type: 'yarn', factor, originalMaxPositionEmbeddings: original, betaFast: optional('beta_fast') ?? 32, betaSlow: optional('beta_slow') ?? 1, truncate, attentionFactor };
}

/**
 * YaRN's frequencies from the unscaled ones (`extrapolated`, over `dim` rotated dimensions):
 * transformers' inv_freq_interpolation * ramp + inv_freq_extrapolation * (1 - ramp), in float64.
 */
function yarnInverseFrequencies(extrapolated: Float64Array, dim: number, theta: number, s: Yarn): Float64Array {
  // The dimension at which a frequency turns `rotations` times over the pretraining length.
  const correctionDim = (rotations: number) => (dim * Math.log(s.originalMaxPositionEmbeddings / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = correctionDim(s.betaFast);
  let high = correctionDim(s.betaSlow);
  if (s.truncate) [low, high] = [Math.floor(low), Math.ceil(high)];
  [low, high] = [Math.max(low, 0), Math.min(high, dim - 1)];
  if (low === high) high += 0.001; // transformers' guard against a zero-width ramp
  return extrapolated.map((f, i) => {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high - low)));
    return (f / s.factor) * ramp + f * (1 - ramp);
  });
}

/**
 * RoPE inverse frequencies over `dim` rotated dimensions with a scaling (Hugging Face's rope_init
 * functions); LongRoPE's short factors, or its long ones when `long`.
 */
export function ropeInverseFrequencies(dim: number, rope: Rope, long = false): Float64Array {
  const d = dim;
  const inv = new Float64Array(d / 2);
  for (let i = 0; i < d / 2; i++) inv[i] = 1 / rope.theta ** ((2 * i) / d);
  const s = rope.scaling;
  if (!s) return inv;
  if (s.type === 'linear') return inv.map((f) => f / s.factor);
  if (s.type === 'yarn') return yarnInverseFrequencies(inv, d, rope.theta, s);
  if (s.type === 'longrope') {
    const ext = long ? s.longFactor : s.shortFactor;
    if (ext.length !== d / 2) throw new GiftjsError(`rope: longrope has ${ext.length} factors, the ${d} rotated dimensions need ${d / 2}`);
    return inv.map((f, i) => f / ext[i]!);
  }
  // llama3: long wavelengths are slowed by `factor`, short ones kept, the band between blended.
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) return f;
    if (wavelen > lowWavelen) return f / s.factor;
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

/** Dimensions of each head RoPE rotates: all, or Phi-3's first head_dim * partial_rotary_factor (an even count, as int() in transformers). */
export function rotaryDimensions(headDim: number, rope: Rope): number {
  return Math.trunc(headDim * (rope.partialRotaryFactor ?? 1));
}

/**
 * What a scaling divides each rotated frequency by (unscaled / scaled inverse frequency): the
 * per-dimension factors llama.cpp reads from a GGUF's rope_freqs tensor (its converter writes Llama
 * 3's so).
 */
export function ropeFrequencyFactors(dim: number, rope: Rope): Float64Array {
  const plain = ropeInverseFrequencies(dim, { theta: rope.theta, scaling: null });
  const scaled = ropeInverseFrequencies(dim, rope);
  return plain.map((f, i) => f / scaled[i]!);
}

/**
 * Llama 3's scaling that gives these per-frequency factors (a GGUF's rope_freqs), or null when every
 * factor is 1. The factors decide the model; of the config's numbers only the factor and the two
 * band edges' wavelengths matter (original_max_position_embeddings / low_freq_factor and / high_freq_factor),
 * so they are written with low_freq_factor 1. The caller checks that the scaling found reproduces
 * the factors (ropeFrequencyFactors): factors no Llama 3 scaling gives are refused there.
 */
export function llama3ScalingOfFactors(factors: ArrayLike<number>, dim: number, theta: number): Extract<RopeScaling, { type: 'llama3' }> | null {
  const f = Array.from(factors);
  const big = Math.max(...f);
  if (big <= 1 + 1e-6) return null;
  // u: 1 / wavelength of each frequency, decreasing with the index: short wavelengths (kept) come first.
  const u = ropeInverseFrequencies(dim, { theta, scaling: null }).map((inv) => inv / (2 * Math.PI));
  const kept = f.map((x, i) => (Math.abs(x - 1) <= 1e-6 ? i : -1)).filter((i) => i >= 0);
  const slowed = f.map((x, i) => (Math.abs(x - big) <= 1e-6 * big ? i : -1)).filter((i) => i >= 0);
  const band = f.map((_, i) => i).filter((i) => !kept.includes(i) && !slowed.includes(i));
  if (slowed.length === 0) return null; // no frequency slowed by the whole factor: not Llama 3's shape
  // In the band the factor blends: 1/f = (1 - s)/factor + s, with s = (u - x) / (y - x), x and y the band edges' 1/wavelength.
  const blend = (i: number) => (1 / f[i]! - 1 / big) / (1 - 1 / big);
  const firstSlowed = u[slowed[0]!]!;
  const lastKept = kept.length ? u[kept[kept.length - 1]!]! : Infinity;
  let x: number;
  let y: number;
  if (band.length >= 2) {
    const [a, b] = [band[0]!, band[band.length - 1]!];
    const width = (u[a]! - u[b]!) / (blend(a) - blend(b));
    x = u[a]! - blend(a) * width;
    y = x + width;
  } else if (band.length === 1) {
    // One frequency in the band: any edges around it that give its blend describe the same model.
    const i = band[0]!;
    x = (u[i]! + firstSlowed) / 2;
    y = x + (u[i]! - x) / blend(i);
    for (let t = 0.25; y >= lastKept && t > 1e-6; t /= 4) {
      x = u[i]! - t * (u[i]! - firstSlowed);
      y = x + (u[i]! - x) / blend(i);
    }
  } else {
    y = kept.length ? (lastKept + firstSlowed) / 2 : firstSlowed * 2;
    x = (firstSlowed + y) / 2;
  }
  if (!(x > 0 && y > x)) return null;
  return { type: 'llama3', factor: big, lowFreqFactor: 1, highFreqFactor: y / x, originalMaxPositionEmbeddings: 1 / x };
}

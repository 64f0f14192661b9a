// RoPE as config.json describes it (transformers 5's rope_parameters, 4's rope_theta and
// rope_scaling), parsed and turned into inverse frequencies; shared by the causal-LM families.

export interface RopeScaling {
  type: 'llama3' | 'linear';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** A RoPE base and its scaling (null: none). */
export interface Rope {
  theta: number;
  scaling: RopeScaling | null;
}

const ROPE_KEYS: Record<string, readonly string[]> = {
  default: [],
  linear: ['factor'],
  llama3: ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
};

/**
 * RoPE's base and scaling from either layout: transformers 5's `rope_parameters` ({rope_theta,
 * rope_type, ...}) or transformers 4's top-level `rope_theta` and `rope_scaling`. A type or a key
 * giftjs does not implement is refused by name; so are the two layouts disagreeing.
 */
export function parseRope(raw: Record<string, unknown>, fail: (msg: string) => never): Rope {
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
  const needed = ROPE_KEYS[type as string]!;
  for (const key of Object.keys(p)) {
    if (key === 'rope_type' || key === 'type' || key === 'rope_theta' || needed.includes(key)) continue;
    if (key === 'partial_rotary_factor' && p[key] === 1) continue;
    fail(`${field}.${key} (${JSON.stringify(p[key])}) is not supported with rope type '${String(type)}'`);
  }
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
  if (type === 'default') return { theta, scaling: null };
  const values = Object.fromEntries(needed.map((k) => {
    if (p[k] === undefined) fail(`${field}.${k} is required for rope type '${type}'`);
    return [k, positive(`${field}.${k}`, p[k])];
  }));
  if (type === 'llama3' && !(values.high_freq_factor! > values.low_freq_factor!)) {
    fail(`${field}.high_freq_factor (${values.high_freq_factor}) must be larger than low_freq_factor (${values.low_freq_factor})`);
  }
  return {
    theta,
    scaling: {
      type: type as 'linear' | 'llama3',
      factor: values.factor!,
      lowFreqFactor: values.low_freq_factor ?? 1,
      highFreqFactor: values.high_freq_factor ?? 4,
      originalMaxPositionEmbeddings: values.original_max_position_embeddings ?? 0,
    },
  };
}

/** RoPE inverse frequencies with a scaling (Hugging Face's rope_init functions). */
export function ropeInverseFrequencies(headDim: number, rope: Rope): Float64Array {
  const d = headDim;
  const inv = new Float64Array(d / 2);
  for (let i = 0; i < d / 2; i++) inv[i] = 1 / rope.theta ** ((2 * i) / d);
  const s = rope.scaling;
  if (!s) return inv;
  if (s.type === 'linear') return inv.map((f) => f / s.factor);
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

// LlamaConfig: the fields of a Hugging Face config.json that the Llama family (Llama 2/3/3.1/3.2,
// SmolLM, TinyLlama, Mistral, Qwen2) needs, with Hugging Face's defaults, validated on load.

export interface RopeScaling {
  type: 'llama3' | 'linear';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

export interface LlamaConfig {
  architecture: string;
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Biases on q_proj, k_proj, v_proj (Qwen2; Llama with attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama's attention_bias covers it; Qwen2 has none). */
  outputBias: boolean;
  mlpBias: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  torchDtype: string | null;
  /** The config.json object as read, so an export can write it back unchanged. */
  raw: Record<string, unknown>;
}

export const LLAMA_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM'] as const;

/** Parses and validates a config.json object; `source` names the file in errors. */
export function parseLlamaConfig(raw: Record<string, unknown>, source = 'config.json'): LlamaConfig {
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  const archs = raw.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : null;
  const modelType = typeof raw.model_type === 'string' ? raw.model_type : '';
  const arch = architecture ?? ({ llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM' } as Record<string, string>)[modelType];
  if (!arch || !(LLAMA_ARCHITECTURES as readonly string[]).includes(arch)) {
    fail(`architecture ${JSON.stringify(architecture ?? modelType)} is not supported (supported: ${LLAMA_ARCHITECTURES.join(', ')})`);
  }
  const int = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) return fail(`'${key}' must be a positive integer, got ${JSON.stringify(raw[key])}`);
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0)) return fail(`'${key}' must be a positive number, got ${JSON.stringify(raw[key])}`);
    return v;
  };
  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) fail(`num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  const headDim = raw.head_dim == null ? hiddenSize / numHeads : int('head_dim');
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) fail(`head dimension ${headDim} must be an even integer`);
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu') fail(`hidden_act '${String(act)}' is not supported (Llama uses silu)`);

  let ropeScaling: RopeScaling | null = null;
  const rs = raw.rope_scaling as Record<string, unknown> | null | undefined;
  if (rs) {
    const type = (rs.rope_type ?? rs.type) as string;
    if (type === 'default') ropeScaling = null;
    else if (type === 'llama3' || type === 'linear') {
      const factor = Number(rs.factor);
      if (!(factor > 0)) fail(`rope_scaling.factor must be positive`);
      ropeScaling = {
        type,
        factor,
        lowFreqFactor: Number(rs.low_freq_factor ?? 1),
        highFreqFactor: Number(rs.high_freq_factor ?? 4),
        originalMaxPositionEmbeddings: Number(rs.original_max_position_embeddings ?? 8192),
      };
    } else fail(`rope_scaling type '${type}' is not supported (supported: llama3, linear)`);
  }
  const qwen = arch === 'Qwen2ForCausalLM';
  const attentionBias = raw.attention_bias === true;
  const eos = raw.eos_token_id;
  return {
    architecture: arch,
    modelType,
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    ropeScaling,
    maxPositionEmbeddings: int('max_position_embeddings', 2048),
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    qkvBias: qwen || attentionBias,
    outputBias: !qwen && attentionBias,
    mlpBias: raw.mlp_bias === true,
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : null,
    eosTokenIds: typeof eos === 'number' ? [eos] : Array.isArray(eos) ? eos.filter((e): e is number => typeof e === 'number') : [],
    torchDtype: typeof raw.torch_dtype === 'string' ? raw.torch_dtype : null,
    raw,
  };
}

/** RoPE inverse frequencies with the config's scaling (Hugging Face's rope_init functions). */
export function llamaInverseFrequencies(c: LlamaConfig): Float64Array {
  const d = c.headDim;
  const inv = new Float64Array(d / 2);
  for (let i = 0; i < d / 2; i++) inv[i] = 1 / c.ropeTheta ** ((2 * i) / d);
  const s = c.ropeScaling;
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

// LlamaConfig: the fields of a Hugging Face config.json that the Llama family (Llama 2/3/3.1/3.2,
// SmolLM, TinyLlama, Mistral, Qwen2, Qwen3) needs, with Hugging Face's defaults, validated on load.
import { configDtype, configNumbers, configTokenIds } from '../config_limits.js';
import { GiftjsError } from '../../errors.js';
import type { CausalLMConfig } from '../causal_lm.js';
import { parseRope, ropeInverseFrequencies, rotaryDimensions, type RopeScaling } from '../rope.js';

/** The contract's fields (CausalLMConfig) and what the Llama family adds. */
export interface LlamaConfig extends CausalLMConfig {
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** Dimensions of each head RoPE rotates: headDim, or Phi-3's headDim * partial_rotary_factor (the rest pass through). */
  rotaryDim: number;
  /** Biases on q_proj, k_proj, v_proj (Qwen2; Llama with attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama's attention_bias covers it; Qwen2 has none). */
  outputBias: boolean;
  mlpBias: boolean;
  /** RMSNorm over each head of q and k before RoPE (Qwen3's q_norm, k_norm). */
  qkNorm: boolean;
  /**
   * Phi-3's fused projections: one qkv_proj ([q; k; v] rows) and one gate_up_proj ([gate; up] rows)
   * instead of q/k/v_proj and gate/up_proj (GIFT and LoRA target them by those names).
   */
  fusedProjections: boolean;
  /**
   * Each layer's sliding attention window (0: the layer attends to every earlier position), as
   * transformers 5.17 decides it: Mistral's sliding_window on every layer; Qwen2/Qwen3 with
   * use_sliding_window on the layers layer_types names sliding_attention (by default those from
   * max_window_layers on); Llama never.
   */
  layerWindows: readonly number[];
}

export const LLAMA_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM', 'Qwen3ForCausalLM', 'Phi3ForCausalLM'] as const;

/** model_type values this family reads (a config without "architectures"). */
export const LLAMA_MODEL_TYPES = ['llama', 'mistral', 'qwen2', 'qwen3', 'phi3'];

/** Parses and validates a config.json object; `source` names the file in errors. */
export function parseLlamaConfig(raw: Record<string, unknown>, source = 'config.json'): LlamaConfig {
  const fail = (msg: string): never => {
    throw new GiftjsError(`${source}: ${msg}`);
  };
  const archs = raw.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : null;
  const modelType = typeof raw.model_type === 'string' ? raw.model_type : '';
  const byType = new Map(LLAMA_MODEL_TYPES.map((t, i) => [t, LLAMA_ARCHITECTURES[i]!]));
  const arch = architecture ?? byType.get(modelType) ?? '';
  if (!arch || !(LLAMA_ARCHITECTURES as readonly string[]).includes(arch)) {
    fail(`architecture ${JSON.stringify(architecture ?? modelType)} is not supported (supported: ${LLAMA_ARCHITECTURES.join(', ')})`);
  }
  const { int, positive: num } = configNumbers(raw, source, fail);
  const hiddenSize = int('hidden_size');
  const numLayers = int('num_hidden_layers');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) fail(`num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  const headDim = raw.head_dim == null ? hiddenSize / numHeads : int('head_dim');
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) fail(`head dimension ${headDim} must be an even integer`);
  const act = raw.hidden_act ?? 'silu';
  if (act !== 'silu') fail(`hidden_act '${String(act)}' is not supported (Llama uses silu)`);

  const phi3 = arch === 'Phi3ForCausalLM';
  // (transformers reads Phi-3's "yarn" as an old name of LongRoPE, not as YaRN.)
  const rope = parseRope(raw, fail, { longrope: phi3, partialRotary: phi3, yarn: !phi3 });
  const rotaryDim = rotaryDimensions(headDim, rope);
  if (rotaryDim % 2 !== 0 || rotaryDim === 0) fail(`partial_rotary_factor ${rope.partialRotaryFactor} rotates ${rotaryDim} of ${headDim} dimensions; RoPE needs a positive even count`);
  if (rope.scaling?.type === 'longrope' && rope.scaling.shortFactor.length !== rotaryDim / 2) {
    fail(`rope short_factor and long_factor have ${rope.scaling.shortFactor.length} values; the ${rotaryDim} rotated dimensions of a head need ${rotaryDim / 2}`);
  }
  // Phi-3's dropouts on the embeddings and the residual branches are part of its training recipe.
  for (const key of ['attention_dropout', 'resid_pdrop', 'embd_pdrop']) {
    const p = raw[key] ?? 0;
    if (p !== 0) fail(`${key} ${JSON.stringify(p)} is not supported (only 0)`);
  }
  const qwen = arch === 'Qwen2ForCausalLM';
  const attentionBias = raw.attention_bias === true;
  const config: LlamaConfig = {
    details: () => llamaDetails(config),
    architecture: arch,
    modelType,
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num('rms_norm_eps', phi3 ? 1e-5 : 1e-6),
    ropeTheta: rope.theta,
    ropeScaling: rope.scaling,
    rotaryDim,
    maxPositionEmbeddings: int('max_position_embeddings', 2048),
    ...(rope.scaling?.type === 'longrope' ? { cacheRebuiltPast: rope.scaling.originalMaxPositionEmbeddings } : {}),
    tieWordEmbeddings: raw.tie_word_embeddings === true,
    qkvBias: qwen || attentionBias,
    outputBias: !qwen && attentionBias,
    mlpBias: raw.mlp_bias === true,
    qkNorm: arch === 'Qwen3ForCausalLM',
    fusedProjections: phi3,
    defaultTargets: phi3 ? ['qkv_proj'] : ['q_proj', 'v_proj'],
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : null,
    eosTokenIds: configTokenIds(raw.eos_token_id),
    torchDtype: configDtype(raw),
    layerWindows: layerWindows(raw, arch, numLayers, fail),
    raw,
  };
  return config;
}

/** What sets a Llama-family config apart, for `gift inspect`. */
function llamaDetails(c: LlamaConfig): string[] {
  return [
    `embeddings: ${c.tieWordEmbeddings ? 'tied (lm_head = embed_tokens)' : 'untied'}; biases: ${c.qkvBias ? 'q/k/v' : 'none'}${c.outputBias ? ' + o' : ''}${c.qkNorm ? '; q/k norms per head' : ''}${c.fusedProjections ? '; fused qkv_proj and gate_up_proj' : ''}`,
    `rope: theta ${c.ropeTheta}${c.ropeScaling ? `, ${c.ropeScaling.type} scaling x${c.ropeScaling.factor}` : ''}${c.rotaryDim < c.headDim ? ` over ${c.rotaryDim} of ${c.headDim} dimensions` : ''}; max positions ${c.maxPositionEmbeddings}${windowSummary(c.layerWindows)}`,
  ];
}

/** "; sliding window 4096 on layers 2-5", or nothing when every layer attends to all positions. */
function windowSummary(windows: readonly number[]): string {
  const sliding = windows.flatMap((w, i) => (w > 0 ? [i] : []));
  if (sliding.length === 0) return '';
  const sizes = [...new Set(sliding.map((i) => windows[i]))].join('/');
  const which = sliding.length === windows.length ? 'every layer' : `layers ${sliding.join(', ')}`;
  return `; sliding window ${sizes} on ${which}`;
}

function layerWindows(raw: Record<string, unknown>, arch: string, numLayers: number, fail: (msg: string) => never): number[] {
  const full = new Array<number>(numLayers).fill(0);
  const types = raw.layer_types;
  if (types !== undefined && types !== null) {
    if (!Array.isArray(types) || types.length !== numLayers) fail(`'layer_types' must list one name per layer (${numLayers}), got ${JSON.stringify(types)}`);
    const unknown = (types as unknown[]).find((t) => t !== 'full_attention' && t !== 'sliding_attention');
    if (unknown !== undefined) fail(`layer_types ${JSON.stringify(unknown)} is not supported (supported: full_attention, sliding_attention)`);
  }
  if (arch === 'LlamaForCausalLM') {
    if (Array.isArray(types) && types.includes('sliding_attention')) fail(`layer_types 'sliding_attention' is not supported for LlamaForCausalLM (transformers' Llama has no sliding window)`);
    return full;
  }
  // Qwen2 and Qwen3 attend over a window only with use_sliding_window (transformers then drops sliding_window).
  const qwen = arch === 'Qwen2ForCausalLM' || arch === 'Qwen3ForCausalLM';
  if (qwen && raw.use_sliding_window !== true) return full;
  const w = raw.sliding_window;
  if (w === undefined || w === null) return full;
  if (typeof w !== 'number' || !Number.isInteger(w) || w <= 0) return fail(`'sliding_window' must be null or a positive integer, got ${JSON.stringify(w)}`);
  // Mistral's and Phi-3's attention read sliding_window on every layer, whatever layer_types says.
  if (!qwen) return full.fill(w);
  if (Array.isArray(types)) return types.map((t) => (t === 'sliding_attention' ? w : 0));
  const from = raw.max_window_layers ?? 28;
  if (typeof from !== 'number' || !Number.isInteger(from) || from < 0) fail(`'max_window_layers' must be a non-negative integer, got ${JSON.stringify(from)}`);
  return full.map((_, i) => (i >= (from as number) ? w : 0));
}

/** RoPE inverse frequencies with the config's scaling (Hugging Face's rope_init functions); LongRoPE's long ones when `long`. */
export function llamaInverseFrequencies(c: LlamaConfig, long = false): Float64Array {
  return ropeInverseFrequencies(c.rotaryDim, { theta: c.ropeTheta, scaling: c.ropeScaling }, long);
}

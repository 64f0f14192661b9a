// GemmaConfig: the fields of a Hugging Face config.json that Gemma 3 (text), Gemma 2 and Gemma (1)
// need, with transformers 5.17's defaults, validated on load. What sets them apart from Llama: RMSNorm
// scaling by (1 + weight), a GELU gated MLP, embeddings scaled by sqrt(hidden); from Gemma 2 on, four
// norms per block, attention scaled by query_pre_attn_scalar^-1/2, local (sliding) and global layers
// with their own RoPE, per-head q/k norms (Gemma 3), soft-capped attention scores and logits (Gemma 2).
// Gemma (1) has Llama's two norms per block, 1/sqrt(head_dim) and global attention on every layer.
import { configDtype, configNumbers, configTokenIds } from '../config_limits.js';
import { GiftjsError } from '../../errors.js';
import type { CausalLMConfig } from '../causal_lm.js';
import { parseRope, type Rope } from '../rope.js';

export interface GemmaConfig extends CausalLMConfig {
  rmsNormEps: number;
  /** q/k/v/o biases (attention_bias). */
  attentionBias: boolean;
  /** Gemma 3: RMSNorm (1 + w) over each head of q and k before RoPE. */
  qkNorm: boolean;
  /** Gemma 2 and 3: norms before and after both the attention and the MLP (four a block); Gemma (1): Llama's two. */
  sandwichNorms: boolean;
  /** The MLP gate's GELU: 'tanh' (gelu_pytorch_tanh) or 'none' (gelu, the erf form). */
  geluApproximation: 'tanh' | 'none';
  /** Attention scores are scaled by this (query_pre_attn_scalar^-1/2), not 1/sqrt(head_dim). */
  attentionScale: number;
  /** Logits become cap * tanh(logits / cap) (Gemma 2's final_logit_softcapping); null: not capped. */
  finalLogitSoftcap: number | null;
  /** Attention scores are soft-capped the same way (Gemma 2's attn_logit_softcapping); null: not capped. */
  attnLogitSoftcap: number | null;
  /** Each layer's sliding window (0: global attention), from layer_types. */
  layerWindows: readonly number[];
  /** RoPE of the global (full_attention) and local (sliding_attention) layers. */
  globalRope: Rope;
  localRope: Rope;
}

export const GEMMA_ARCHITECTURES = ['Gemma3ForCausalLM', 'Gemma2ForCausalLM', 'GemmaForCausalLM'] as const;
const BY_MODEL_TYPE = new Map([['gemma3_text', 'Gemma3ForCausalLM'], ['gemma2', 'Gemma2ForCausalLM'], ['gemma', 'GemmaForCausalLM']]);

/** transformers' activation names an MLP of this family may take, as the GELU each computes. */
const GELUS: Record<string, 'tanh' | 'none'> = { gelu_pytorch_tanh: 'tanh', gelu: 'none' };

/** model_type values this family reads (a config without "architectures"). */
export const GEMMA_MODEL_TYPES = [...BY_MODEL_TYPE.keys()];

/** Parses and validates a config.json object; `source` names the file in errors. */
export function parseGemmaConfig(raw: Record<string, unknown>, source = 'config.json'): GemmaConfig {
  const fail = (msg: string): never => {
    throw new GiftjsError(`${source}: ${msg}`);
  };
  const archs = raw.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : null;
  const modelType = typeof raw.model_type === 'string' ? raw.model_type : '';
  if (architecture === 'Gemma3ForConditionalGeneration') fail(`Gemma3ForConditionalGeneration (text and images) is not supported: only Gemma 3's text models (Gemma3ForCausalLM, e.g. gemma-3-1b) are`);
  const arch = architecture ?? BY_MODEL_TYPE.get(modelType) ?? '';
  if (!(GEMMA_ARCHITECTURES as readonly string[]).includes(arch)) {
    fail(`architecture ${JSON.stringify(architecture ?? modelType)} is not supported (supported: ${GEMMA_ARCHITECTURES.join(', ')})`);
  }
  const gemma3 = arch === 'Gemma3ForCausalLM';
  const gemma1 = arch === 'GemmaForCausalLM';
  const { int, positive } = configNumbers(raw, source, fail);
  // transformers' defaults when the key is absent: Gemma 2 caps scores at 50 and logits at 30, Gemma 3 neither.
  // Gemma (1) has neither, whatever the file says (transformers' GemmaConfig has no such keys).
  const capOf = (key: string, gemma2Default: number): number | null => {
    if (gemma1) return null;
    if (raw[key] === undefined) return gemma3 ? null : gemma2Default;
    return raw[key] === null ? null : positive(key, 0);
  };
  const hiddenSize = int('hidden_size');
  const numLayers = int('num_hidden_layers');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) fail(`num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  const headDim = int('head_dim', 256);
  if (headDim % 2 !== 0) fail(`head_dim ${headDim} must be even`);
  // transformers 5.17's Gemma (1) MLP reads hidden_act (the hub's gemma-2b and gemma-7b say "gelu", the
  // erf form, and so it computes); Gemma 2 and 3 read hidden_activation and ignore hidden_act.
  const actKey = gemma1 ? 'hidden_act' : 'hidden_activation';
  const act = raw[actKey] ?? 'gelu_pytorch_tanh';
  const geluApproximation = typeof act === 'string' && Object.hasOwn(GELUS, act) ? GELUS[act]! : fail(`${actKey} ${JSON.stringify(act)} is not supported (supported: ${Object.keys(GELUS).join(', ')})`);
  if (raw.use_bidirectional_attention === true) fail(`use_bidirectional_attention true is not supported (only causal attention)`);
  const attentionDropout = raw.attention_dropout ?? 0;
  if (attentionDropout !== 0) fail(`attention_dropout ${JSON.stringify(attentionDropout)} is not supported (only 0)`);
  const { globalRope, localRope } = gemmaRope(raw, gemma3, fail);
  const config: GemmaConfig = {
    details: () => gemmaDetails(config),
    architecture: arch,
    modelType,
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    maxPositionEmbeddings: int('max_position_embeddings', gemma3 ? 131072 : 8192),
    tieWordEmbeddings: raw.tie_word_embeddings !== false,
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : raw.bos_token_id === undefined ? 2 : null,
    eosTokenIds: configTokenIds(raw.eos_token_id ?? 1),
    torchDtype: configDtype(raw),
    raw,
    rmsNormEps: positive('rms_norm_eps', 1e-6),
    attentionBias: raw.attention_bias === true,
    qkNorm: gemma3,
    sandwichNorms: !gemma1,
    geluApproximation,
    // Gemma (1) scales by 1/sqrt(head_dim); query_pre_attn_scalar came with Gemma 2.
    attentionScale: gemma1 ? headDim ** -0.5 : positive('query_pre_attn_scalar', 256) ** -0.5,
    finalLogitSoftcap: capOf('final_logit_softcapping', 30),
    attnLogitSoftcap: capOf('attn_logit_softcapping', 50),
    layerWindows: gemma1 ? Array<number>(numLayers).fill(0) : layerWindows(raw, numLayers, gemma3, fail),
    defaultTargets: ['q_proj', 'v_proj'],
    globalRope,
    localRope,
  };
  return config;
}

/**
 * Which layers attend over a window: layer_types as written, or transformers' default pattern
 * (Gemma 3: every sliding_window_pattern-th layer (6) is global; Gemma 2: every second).
 */
function layerWindows(raw: Record<string, unknown>, numLayers: number, gemma3: boolean, fail: (msg: string) => never): number[] {
  const w = raw.sliding_window ?? 4096;
  if (typeof w !== 'number' || !Number.isInteger(w) || w <= 0) return fail(`'sliding_window' must be a positive integer, got ${JSON.stringify(raw.sliding_window)}`);
  const types = raw.layer_types;
  if (types === undefined || types === null) {
    const pattern = gemma3 ? raw.sliding_window_pattern ?? 6 : 2;
    if (typeof pattern !== 'number' || !Number.isInteger(pattern) || pattern <= 0) return fail(`'sliding_window_pattern' must be a positive integer, got ${JSON.stringify(pattern)}`);
    return Array.from({ length: numLayers }, (_, i) => ((i + 1) % pattern !== 0 ? w : 0));
  }
  if (!Array.isArray(types) || types.length !== numLayers) return fail(`'layer_types' must list one name per layer (${numLayers}), got ${JSON.stringify(types)}`);
  return types.map((t) => {
    if (t === 'sliding_attention') return w;
    if (t === 'full_attention') return 0;
    return fail(`layer_types ${JSON.stringify(t)} is not supported (supported: full_attention, sliding_attention)`);
  });
}

/**
 * The global and local layers' RoPE. transformers 5 writes rope_parameters per layer type
 * ({full_attention: {...}, sliding_attention: {...}}); transformers 4 wrote rope_theta and
 * rope_scaling (global) and rope_local_base_freq (local, Gemma 3). Gemma 2 has one RoPE for both.
 */
function gemmaRope(raw: Record<string, unknown>, gemma3: boolean, fail: (msg: string) => never): { globalRope: Rope; localRope: Rope } {
  // (Gemma (1) has one RoPE, as Gemma 2, and no local layers to use the second.)
  const params = raw.rope_parameters;
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(params) && (isObject(params.full_attention) || isObject(params.sliding_attention))) {
    const extra = Object.keys(params).find((k) => k !== 'full_attention' && k !== 'sliding_attention');
    if (extra !== undefined) fail(`rope_parameters.${extra} is not supported (expected full_attention and sliding_attention)`);
    const of = (type: 'full_attention' | 'sliding_attention', theta: number): Rope => {
      const p = params[type] ?? { rope_type: 'default', rope_theta: theta };
      const field = `rope_parameters.${type}`;
      return parseRope({ rope_parameters: p }, (msg) => fail(msg.replace(/^rope_parameters/, field)));
    };
    return { globalRope: of('full_attention', 1e6), localRope: of('sliding_attention', 1e4) };
  }
  if (!gemma3) {
    const rope = parseRope(raw, fail);
    return { globalRope: rope, localRope: rope };
  }
  const globalRope = parseRope({ rope_theta: 1e6, ...raw }, fail);
  const local = raw.rope_local_base_freq ?? 1e4;
  if (typeof local !== 'number' || !(local > 0) || !Number.isFinite(local)) fail(`'rope_local_base_freq' must be a positive number, got ${JSON.stringify(local)}`);
  return { globalRope, localRope: { theta: local as number, scaling: null } };
}

/** What sets a Gemma config apart, for `gift inspect`. */
function gemmaDetails(c: GemmaConfig): string[] {
  const local = c.layerWindows.filter((w) => w > 0).length;
  const rope = (r: Rope) => `theta ${r.theta}${r.scaling ? ` (${r.scaling.type} x${r.scaling.factor})` : ''}`;
  return [
    `embeddings: ${c.tieWordEmbeddings ? 'tied (lm_head = embed_tokens)' : 'untied'}, scaled by sqrt(hidden); norms: (1 + w), ${c.sandwichNorms ? 'four' : 'two'} per block${c.qkNorm ? ', q/k per head' : ''}; MLP: GELU (${c.geluApproximation === 'tanh' ? 'tanh' : 'erf'}) gated`,
    `attention: scale ${c.attentionScale.toPrecision(6)}; ${local === 0 ? `every layer global; rope: ${rope(c.globalRope)}` : `${local} of ${c.numLayers} layers local (window ${Math.max(...c.layerWindows)}); rope: global ${rope(c.globalRope)}, local ${rope(c.localRope)}`}; max positions ${c.maxPositionEmbeddings}${c.attnLogitSoftcap ? `; scores soft-capped at ${c.attnLogitSoftcap}` : ''}${c.finalLogitSoftcap ? `; logits soft-capped at ${c.finalLogitSoftcap}` : ''}`,
  ];
}

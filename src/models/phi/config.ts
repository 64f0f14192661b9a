// PhiConfig: the fields of a Hugging Face config.json that Phi-1, Phi-1.5 and Phi-2 (PhiForCausalLM)
// need, with transformers 5.17's defaults, validated on load. What sets them apart from Llama: LayerNorm
// (with biases) instead of RMSNorm, attention and MLP side by side on one normalized input, biases on
// every projection and on the LM head, a GELU MLP (fc1, fc2) without a gate, RoPE over part of each
// head (partial_rotary_factor, 0.5 unless given), and dropouts on the embeddings and the residual branches.
import { configDtype, configNumbers, configTokenIds } from '../config_limits.js';
import { GiftjsError } from '../../errors.js';
import type { CausalLMConfig } from '../causal_lm.js';
import { parseRope, rotaryDimensions, type Rope } from '../rope.js';

export interface PhiConfig extends CausalLMConfig {
  layerNormEps: number;
  rope: Rope;
  /** Dimensions of each head RoPE rotates (head_dim * partial_rotary_factor); the rest pass through. */
  rotaryDim: number;
  /** Dropout on the attention's and the MLP's outputs (resid_pdrop) and on the embeddings (embd_pdrop), in training. */
  residualDropout: number;
  embeddingDropout: number;
}

export const PHI_ARCHITECTURES = ['PhiForCausalLM'] as const;

/** model_type values this family reads (a config without "architectures"). */
export const PHI_MODEL_TYPES = ['phi'];

/** transformers' activation names Phi's MLP may take: each is the tanh approximation of GELU. */
const TANH_GELUS = ['gelu_new', 'gelu_pytorch_tanh'];

/** Parses and validates a config.json object; `source` names the file in errors. */
export function parsePhiConfig(raw: Record<string, unknown>, source = 'config.json'): PhiConfig {
  const fail = (msg: string): never => {
    throw new GiftjsError(`${source}: ${msg}`);
  };
  const archs = raw.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : raw.model_type === 'phi' ? 'PhiForCausalLM' : null;
  if (architecture !== 'PhiForCausalLM') fail(`architecture ${JSON.stringify(architecture)} is not supported (supported: ${PHI_ARCHITECTURES.join(', ')})`);
  const { int, positive, probability } = configNumbers(raw, source, fail);
  const hiddenSize = int('hidden_size', 2048);
  const numLayers = int('num_hidden_layers', 24);
  const numHeads = int('num_attention_heads', 32);
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (hiddenSize % numHeads !== 0) fail(`hidden_size (${hiddenSize}) must be a multiple of num_attention_heads (${numHeads})`);
  if (numHeads % numKvHeads !== 0) fail(`num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  const headDim = hiddenSize / numHeads;
  const act = raw.hidden_act ?? 'gelu_new';
  if (typeof act !== 'string' || !TANH_GELUS.includes(act)) fail(`hidden_act ${JSON.stringify(act)} is not supported (supported: ${TANH_GELUS.join(', ')})`);
  if (raw.qk_layernorm === true) fail('qk_layernorm true is not supported (LayerNorm over each head of q and k)');
  const attentionDropout = raw.attention_dropout ?? 0;
  if (attentionDropout !== 0 && attentionDropout !== null) fail(`attention_dropout ${JSON.stringify(attentionDropout)} is not supported (only 0)`);
  if (raw.tie_word_embeddings === true) fail('tie_word_embeddings true is not supported (Phi\'s LM head is its own, with a bias)');
  // transformers' PhiConfig rotates half of each head when the file names no partial_rotary_factor.
  const params = raw.rope_parameters as Record<string, unknown> | null | undefined;
  const named = raw.partial_rotary_factor !== undefined || (typeof params === 'object' && params !== null && params.partial_rotary_factor !== undefined);
  const rope = parseRope(named ? raw : { ...raw, partial_rotary_factor: 0.5 }, fail, { partialRotary: true });
  const rotaryDim = rotaryDimensions(headDim, rope);
  if (rotaryDim % 2 !== 0 || rotaryDim === 0) fail(`partial_rotary_factor ${rope.partialRotaryFactor} rotates ${rotaryDim} of each head's ${headDim} dimensions; RoPE needs an even number above 0`);
  const config: PhiConfig = {
    details: () => phiDetails(config),
    architecture: 'PhiForCausalLM',
    modelType: typeof raw.model_type === 'string' ? raw.model_type : 'phi',
    vocabSize: int('vocab_size', 51200),
    hiddenSize,
    intermediateSize: int('intermediate_size', 8192),
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    maxPositionEmbeddings: int('max_position_embeddings', 2048),
    tieWordEmbeddings: false,
    bosTokenId: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : raw.bos_token_id === undefined ? 1 : null,
    eosTokenIds: configTokenIds(raw.eos_token_id ?? 2),
    torchDtype: configDtype(raw),
    raw,
    layerNormEps: positive('layer_norm_eps', 1e-5),
    rope,
    rotaryDim,
    residualDropout: probability('resid_pdrop', 0),
    embeddingDropout: probability('embd_pdrop', 0),
    defaultTargets: ['q_proj', 'v_proj'],
  };
  return config;
}

/** What sets a Phi config apart, for `gift inspect`. */
function phiDetails(c: PhiConfig): string[] {
  return [
    `LayerNorm (eps ${c.layerNormEps}) before attention and MLP side by side; biases everywhere, the LM head's too; MLP: fc1, GELU (tanh), fc2`,
    `rope: theta ${c.rope.theta} over ${c.rotaryDim} of ${c.headDim} dimensions a head; dropouts in training: residual ${c.residualDropout}, embeddings ${c.embeddingDropout}; max positions ${c.maxPositionEmbeddings}`,
  ];
}

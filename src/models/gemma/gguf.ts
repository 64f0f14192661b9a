// Gemma 3 (text), Gemma 2 and Gemma as llama.cpp's GGUF "gemma3", "gemma2" and "gemma" architectures,
// written as llama.cpp's converter writes them: every RMSNorm weight offset by 1 (llama.cpp's Gemma
// multiplies by the weight, transformers' by 1 + weight), q and k rows as they are (llama.cpp rotates
// halves for Gemma, as transformers does), the output tied to token_embd.
//
// Some of what transformers' config says, llama.cpp does not read from the file but decides itself,
// and a model that differs is refused by name rather than written to run otherwise there:
// - the attention scale is 1/sqrt(head_dim) (1/sqrt(hidden / heads) for its 27B layer counts: 46
//   Gemma 2 layers, 62 Gemma 3 ones), whatever query_pre_attn_scalar says;
// - which layers slide: Gemma 2 every even layer (0, 2, ...), Gemma 3 five of every six (layer i
//   slides unless i % 6 == 5), all over one window; Gemma none;
// - Gemma 3's local layers use RoPE base 10000, unscaled; Gemma 2's have the global RoPE.
// - Gemma 2 soft-caps attention scores and logits (50 and 30 when the file says nothing), Gemma 3
//   neither (the llama.cpp builds that read gemma3.final_logit_softcapping are recent), Gemma neither.
// - the MLP's GELU is the tanh approximation; a Gemma whose config says "gelu" (the erf form, as the
//   hub's gemma-2b and gemma-7b do and transformers 5.17 computes) is written with a note saying so.
import type { GgufModel, GgufOutType, GgufValue } from '../../io/gguf.js';
import { GiftjsError } from '../../errors.js';
import { ggufGeneralMetadata, ggufTensorWriter, ggufTransformerKeys } from '../gguf_export.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { GemmaForCausalLM } from './model.js';
import { preview, type GgufFile } from '../../io/gguf_reader.js';
import type { GgufTensorSource } from '../../io/gguf_weights.js';
import type { GgufImport } from '../gguf_import.js';

const TO_GGUF: Record<string, 'gemma' | 'gemma2' | 'gemma3'> = { GemmaForCausalLM: 'gemma', Gemma2ForCausalLM: 'gemma2', Gemma3ForCausalLM: 'gemma3' };

/** The layer counts llama.cpp takes for the 27B models, whose attention it scales by 1/sqrt(hidden / heads). */
const LAYERS_27B = { gemma: -1, gemma2: 46, gemma3: 62 } as const;

export function gemmaGguf(model: GemmaForCausalLM, outtype: GgufOutType): GgufModel {
  const c = model.config;
  const arch = TO_GGUF[c.architecture];
  if (!arch) throw new GiftjsError(`GGUF export writes llama.cpp's "gemma", "gemma2" and "gemma3" (${Object.keys(TO_GGUF).join(', ')}); ${c.architecture} is not supported yet`);
  const refuse = (what: string): never => {
    throw new GiftjsError(`GGUF export: ${what}; llama.cpp's "${arch}" would run this model otherwise, so it is not written`);
  };
  const scaleDim = c.numLayers === LAYERS_27B[arch] ? c.hiddenSize / c.numHeads : c.headDim;
  if (Math.abs(c.attentionScale * Math.sqrt(scaleDim) - 1) > 1e-6) {
    refuse(`query_pre_attn_scalar ${Math.round(c.attentionScale ** -2 * 1e6) / 1e6} is not ${scaleDim} (llama.cpp scales a ${c.numLayers}-layer ${arch}'s attention by 1/sqrt(${scaleDim}))`);
  }
  const window = Math.max(...c.layerWindows);
  const slides = (i: number) => (arch === 'gemma2' ? i % 2 === 0 : i % 6 < 5);
  const expected = c.layerWindows.map((_, i) => (slides(i) ? window : 0));
  if (arch === 'gemma') {
    if (window !== 0) refuse(`sliding windows on Gemma (${c.layerWindows.join(', ')})`);
  } else if (window === 0 || c.layerWindows.some((w, i) => w !== expected[i])) {
    const pattern = arch === 'gemma2' ? 'sliding on every even layer' : 'sliding except every sixth layer';
    refuse(`the layers' windows (${c.layerWindows.join(', ')}) are not llama.cpp's ${pattern} over one window`);
  }
  if (c.attentionBias) refuse('attention biases (attention_bias) have no tensors there');
  if (!c.tieWordEmbeddings) refuse('an untied lm_head has no tensor there (llama.cpp reads the output projection from token_embd)');
  const notes: string[] = [];
  if (c.geluApproximation !== 'tanh') {
    notes.push(`hidden_act "gelu": transformers and giftjs compute the MLP's GELU in its erf form, llama.cpp's "${arch}" in the tanh approximation, so their outputs differ slightly (at most about 5e-4 in each GELU)`);
  }
  const metadata: GgufModel['metadata'] = [
    ...ggufGeneralMetadata(arch, model.sourceDir, outtype),
    ...ggufTransformerKeys(arch, c, c.rmsNormEps),
    ...(arch === 'gemma' ? [] : [[`${arch}.attention.sliding_window`, { type: 'u32', value: window }] as [string, GgufValue]]),
    [`${arch}.rope.freq_base`, { type: 'f32', value: c.globalRope.theta }],
    ...ropeScalingKeys(c.globalRope.scaling, arch, refuse),
  ];
  if (arch === 'gemma') {
    if (c.attnLogitSoftcap !== null || c.finalLogitSoftcap !== null) refuse('soft-capping on Gemma');
  } else if (arch === 'gemma2') {
    if (c.globalRope.theta !== c.localRope.theta || c.localRope.scaling || c.globalRope.scaling) refuse('Gemma 2 with a RoPE of its own on the local layers, or a scaled one');
    if (c.attnLogitSoftcap === null || c.finalLogitSoftcap === null) refuse('Gemma 2 without soft-capping (attn_logit_softcapping or final_logit_softcapping null) reads as capped at 50 / 30');
    metadata.push([`${arch}.attn_logit_softcapping`, { type: 'f32', value: c.attnLogitSoftcap! }], [`${arch}.final_logit_softcapping`, { type: 'f32', value: c.finalLogitSoftcap! }]);
  } else {
    if (c.localRope.theta !== 10000 || c.localRope.scaling) refuse(`the local layers' RoPE (base ${c.localRope.theta}${c.localRope.scaling ? `, ${c.localRope.scaling.type} scaling` : ''}) is not llama.cpp's base 10000, unscaled`);
    if (c.attnLogitSoftcap !== null || c.finalLogitSoftcap !== null) refuse('soft-capping on Gemma 3');
  }

  const writer = ggufTensorWriter(outtype);
  /** transformers' (1 + weight) as llama.cpp's plain weight. */
  const addNorm = (name: string, t: Tensor) => writer.add(name, t, (values) => values.map((v) => v + 1));
  writer.add('token_embd.weight', model.model.embed_tokens.weight);
  model.model.layers.forEach((layer, i) => {
    const p = `blk.${i}.`;
    addNorm(`${p}attn_norm.weight`, layer.input_layernorm.weight);
    writer.add(`${p}attn_q.weight`, layer.self_attn.q_proj.weight);
    writer.add(`${p}attn_k.weight`, layer.self_attn.k_proj.weight);
    writer.add(`${p}attn_v.weight`, layer.self_attn.v_proj.weight);
    if (layer.self_attn.q_norm && layer.self_attn.k_norm) {
      addNorm(`${p}attn_q_norm.weight`, layer.self_attn.q_norm.weight);
      addNorm(`${p}attn_k_norm.weight`, layer.self_attn.k_norm.weight);
    }
    writer.add(`${p}attn_output.weight`, layer.self_attn.o_proj.weight);
    if (layer.pre_feedforward_layernorm && layer.post_feedforward_layernorm) {
      addNorm(`${p}post_attention_norm.weight`, layer.post_attention_layernorm.weight);
      addNorm(`${p}ffn_norm.weight`, layer.pre_feedforward_layernorm.weight);
    } else {
      // Gemma's post_attention_layernorm is the MLP's input norm, llama.cpp's ffn_norm.
      addNorm(`${p}ffn_norm.weight`, layer.post_attention_layernorm.weight);
    }
    writer.add(`${p}ffn_gate.weight`, layer.mlp.gate_proj.weight);
    writer.add(`${p}ffn_up.weight`, layer.mlp.up_proj.weight);
    writer.add(`${p}ffn_down.weight`, layer.mlp.down_proj.weight);
    if (layer.post_feedforward_layernorm) addNorm(`${p}post_ffw_norm.weight`, layer.post_feedforward_layernorm.weight);
  });
  addNorm('output_norm.weight', model.model.norm.weight);
  return { metadata, tensors: writer.tensors, keptF32: writer.keptF32, notes };
}

/** The global layers' RoPE scaling as llama.cpp's keys: linear only (it applies to the global layers, as in transformers). */
function ropeScalingKeys(scaling: GemmaForCausalLM['config']['globalRope']['scaling'], arch: string, refuse: (what: string) => never): [string, GgufValue][] {
  if (scaling === null) return [];
  if (scaling.type !== 'linear') refuse(`rope_scaling '${scaling.type}' on the global layers`);
  return [[`${arch}.rope.scaling.type`, { type: 'string', value: 'linear' }], [`${arch}.rope.scaling.factor`, { type: 'f32', value: scaling.factor }]];
}

/** The GGUF architectures this family reads, and the Hugging Face architecture and model_type each becomes. */
const FROM_GGUF = { gemma: ['GemmaForCausalLM', 'gemma'], gemma2: ['Gemma2ForCausalLM', 'gemma2'], gemma3: ['Gemma3ForCausalLM', 'gemma3_text'] } as const;
export type GemmaGgufArchitecture = keyof typeof FROM_GGUF;

/**
 * The other way: a GGUF "gemma", "gemma2" or "gemma3" file as a Hugging Face config.json object and,
 * for each parameter, the tensor it reads (norms offset back by -1), with what llama.cpp decides itself
 * (the header's notes) written out as transformers' config says it: query_pre_attn_scalar, the layers'
 * windows, Gemma 3's local RoPE, Gemma 2's default soft-caps, the GELU's tanh approximation.
 */
export function gemmaFromGguf(file: GgufFile, arch: GemmaGgufArchitecture): GgufImport {
  const key = (k: string) => `${arch}.${k}`;
  const hidden = file.number(key('embedding_length'));
  const heads = file.number(key('attention.head_count'));
  const headDim = file.number(key('attention.key_length'), 256);
  const layers = file.number(key('block_count'));
  const has = (k: string) => file.metadata.has(key(k));
  const scalingType = file.string(key('rope.scaling.type'));
  if (scalingType !== null && scalingType !== 'none' && scalingType !== 'linear') throw new GiftjsError(`${file.path}: ${key('rope.scaling.type')} ${preview(scalingType)} is not supported (none and linear are)`);
  const globalRope = { rope_type: scalingType === 'linear' ? 'linear' : 'default', rope_theta: file.number(key('rope.freq_base'), arch === 'gemma3' ? 1e6 : 10000), ...(scalingType === 'linear' ? { factor: file.number(key('rope.scaling.factor')) } : {}) };
  if (arch === 'gemma2' && scalingType === 'linear') throw new GiftjsError(`${file.path}: a scaled RoPE on Gemma 2 is not supported`);
  const id = (k: string): number | null => (file.metadata.has(k) ? file.number(k) : null);
  const config: Record<string, unknown> = {
    architectures: [FROM_GGUF[arch][0]],
    model_type: FROM_GGUF[arch][1],
    vocab_size: file.number(key('vocab_size'), file.array('tokenizer.ggml.tokens')?.length ?? file.info('token_embd.weight').shape[0]),
    hidden_size: hidden,
    intermediate_size: file.number(key('feed_forward_length')),
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: file.number(key('attention.head_count_kv'), heads),
    head_dim: headDim,
    rms_norm_eps: file.number(key('attention.layer_norm_rms_epsilon'), 1e-6),
    max_position_embeddings: file.number(key('context_length'), arch === 'gemma3' ? 131072 : 8192),
  };
  if (arch === 'gemma') {
    // llama.cpp's Gemma: every layer global, scaled by 1/sqrt(head_dim) as transformers' Gemma is, nothing capped.
    Object.assign(config, { rope_parameters: globalRope, hidden_act: 'gelu_pytorch_tanh' });
  } else {
    // Gemma 2 without the key slides over 4096 (llama.cpp's default); Gemma 3 without one attends to every position.
    const window = has('attention.sliding_window') ? file.number(key('attention.sliding_window')) : arch === 'gemma2' ? 4096 : 0;
    const slides = (i: number) => window > 0 && (arch === 'gemma2' ? i % 2 === 0 : i % 6 < 5);
    Object.assign(config, {
      // llama.cpp's attention scale, as transformers' query_pre_attn_scalar.
      query_pre_attn_scalar: layers === LAYERS_27B[arch] ? hidden / heads : headDim,
      sliding_window: window > 0 ? window : 4096,
      layer_types: Array.from({ length: layers }, (_, i) => (slides(i) ? 'sliding_attention' : 'full_attention')),
      rope_parameters: arch === 'gemma2' ? globalRope : { full_attention: globalRope, sliding_attention: { rope_type: 'default', rope_theta: 10000 } },
      attn_logit_softcapping: arch === 'gemma2' ? file.number(key('attn_logit_softcapping'), 50) : null,
      final_logit_softcapping: has('final_logit_softcapping') ? file.number(key('final_logit_softcapping')) : arch === 'gemma2' ? 30 : null,
      hidden_activation: 'gelu_pytorch_tanh',
    });
  }
  Object.assign(config, {
    tie_word_embeddings: true,
    bos_token_id: id('tokenizer.ggml.bos_token_id'),
    eos_token_id: id('tokenizer.ggml.eos_token_id'),
    torch_dtype: 'float32',
  });
  /** llama.cpp's plain norm weight as transformers' offset from 1. */
  const norm = (tensor: string): GgufTensorSource => ({ tensor, offset: -1 });
  const tensors: Record<string, GgufTensorSource> = { 'model.embed_tokens.weight': { tensor: 'token_embd.weight' }, 'model.norm.weight': norm('output_norm.weight') };
  for (let i = 0; i < layers; i++) {
    const hf = `model.layers.${i}.`;
    const g = `blk.${i}.`;
    Object.assign(tensors, {
      [`${hf}input_layernorm.weight`]: norm(`${g}attn_norm.weight`),
      [`${hf}self_attn.q_proj.weight`]: { tensor: `${g}attn_q.weight` },
      [`${hf}self_attn.k_proj.weight`]: { tensor: `${g}attn_k.weight` },
      [`${hf}self_attn.v_proj.weight`]: { tensor: `${g}attn_v.weight` },
      [`${hf}self_attn.o_proj.weight`]: { tensor: `${g}attn_output.weight` },
      [`${hf}mlp.gate_proj.weight`]: { tensor: `${g}ffn_gate.weight` },
      [`${hf}mlp.up_proj.weight`]: { tensor: `${g}ffn_up.weight` },
      [`${hf}mlp.down_proj.weight`]: { tensor: `${g}ffn_down.weight` },
    });
    if (arch === 'gemma') {
      // Gemma's MLP input norm is transformers' post_attention_layernorm.
      tensors[`${hf}post_attention_layernorm.weight`] = norm(`${g}ffn_norm.weight`);
    } else {
      Object.assign(tensors, {
        [`${hf}post_attention_layernorm.weight`]: norm(`${g}post_attention_norm.weight`),
        [`${hf}pre_feedforward_layernorm.weight`]: norm(`${g}ffn_norm.weight`),
        [`${hf}post_feedforward_layernorm.weight`]: norm(`${g}post_ffw_norm.weight`),
      });
    }
    if (arch === 'gemma3') {
      tensors[`${hf}self_attn.q_norm.weight`] = norm(`${g}attn_q_norm.weight`);
      tensors[`${hf}self_attn.k_norm.weight`] = norm(`${g}attn_k_norm.weight`);
    }
  }
  const read = new Set(Object.values(tensors).map((t) => t.tensor));
  const unread = [...file.tensors.keys()].filter((n) => !read.has(n));
  if (unread.length > 0) throw new GiftjsError(`${file.path}: tensors ${unread.slice(0, 4).map(preview).join(', ')}${unread.length > 4 ? ', ...' : ''} have no place in a ${FROM_GGUF[arch][0]} (tensors giftjs does not read in GGUF "${arch}" files)`);
  return { config, tensors };
}

// A Llama-family model as llama.cpp's GGUF "llama" architecture: its hyperparameters as llama.*
// keys, its tensors under llama.cpp's names (blk.N.attn_q, ...). llama.cpp's Llama applies RoPE to
// interleaved pairs where Hugging Face's rotates halves, so q_proj and k_proj rows are permuted
// per head as llama.cpp's own converter permutes them: row (h, j, i) of Hugging Face's
// [heads, 2, d/2] layout becomes row (h, i, j). How each tensor is encoded is models/gguf_export.ts.
import type { GgufModel, GgufOutType, GgufValue } from '../../io/gguf.js';
import type { LlamaForCausalLM } from './model.js';
import type { Tensor } from '../../tensor/tensor.js';
import { ggufGeneralMetadata, ggufTensorWriter, ggufTransformerKeys } from '../gguf_export.js';
import { llama3ScalingOfFactors, ropeFrequencyFactors } from '../rope.js';
import { preview, type GgufFile } from '../../io/gguf_reader.js';
import type { GgufTensorSource } from '../../io/gguf_weights.js';
import type { GgufImport } from '../gguf_import.js';
import { GiftjsError } from '../../errors.js';

/** The architecture, hyperparameters and tensors (the tokenizer's keys come from the folder). */
export function llamaGguf(model: LlamaForCausalLM, outtype: GgufOutType): GgufModel {
  const c = model.config;
  const arch = TO_GGUF[c.architecture];
  if (!arch) throw new GiftjsError(`GGUF export writes llama.cpp's "llama", "qwen2", "qwen3" and "phi3" architectures (${Object.keys(TO_GGUF).join(', ')}); ${c.architecture} is not supported yet`);
  // Linear scaling is llama.cpp's rope.scaling keys; Llama 3's is a factor per frequency in rope_freqs.weight, which llama.cpp reads for "llama" only.
  const scaling = c.ropeScaling;
  // LongRoPE is llama.cpp's rope_factors_short/long tensors, which it reads for "phi3" only, as it does a partial rotary dimension.
  if (scaling && scaling.type !== 'linear' && !(scaling.type === 'llama3' && arch === 'llama') && !(scaling.type === 'longrope' && arch === 'phi3')) {
    throw new GiftjsError(`GGUF export: rope_scaling '${scaling.type}' is not written for llama.cpp's "${arch}"`);
  }
  if (c.rotaryDim !== c.headDim && arch !== 'phi3') throw new GiftjsError(`GGUF export: a partial rotary embedding (${c.rotaryDim} of ${c.headDim} dimensions) is not written for llama.cpp's "${arch}"`);
  // Phi-3's window is one for every layer, and llama.cpp's "phi3" reads it; the others attend to every position there.
  const window = c.layerWindows[0] ?? 0;
  if (c.layerWindows.some((w) => w > 0) && (arch !== 'phi3' || c.layerWindows.some((w) => w !== window))) {
    throw new GiftjsError(`GGUF export: sliding-window attention is not written for llama.cpp's "${arch}" (it attends to every position)`);
  }
  // qwen2's q/k/v biases are its own; any other bias has no place in llama.cpp's tensors for these architectures.
  if ((c.qkvBias && arch !== 'qwen2') || c.outputBias || c.mlpBias) throw new GiftjsError(`GGUF export: ${c.outputBias ? 'an o_proj' : c.mlpBias ? 'an MLP' : 'a q/k/v'} bias is not written for llama.cpp's "${arch}"`);
  // llama.cpp's "llama" rotates interleaved pairs, so its converter permutes q and k; qwen2/qwen3 rotate halves as transformers does.
  const permute = arch === 'llama';
  const metadata: GgufModel['metadata'] = [
    ...ggufGeneralMetadata(arch, model.sourceDir, outtype),
    ...ggufTransformerKeys(arch, c, c.rmsNormEps),
    [`${arch}.rope.dimension_count`, { type: 'u32', value: c.rotaryDim }],
    [`${arch}.rope.freq_base`, { type: 'f32', value: c.ropeTheta }],
    ...(window > 0 ? [[`${arch}.attention.sliding_window`, { type: 'u32', value: window }] as [string, GgufValue]] : []),
    ...(scaling?.type === 'linear' ? [[`${arch}.rope.scaling.type`, { type: 'string', value: 'linear' }], [`${arch}.rope.scaling.factor`, { type: 'f32', value: scaling.factor }]] as [string, GgufValue][] : []),
    ...(scaling?.type === 'longrope' ? [[`${arch}.rope.scaling.attn_factor`, { type: 'f32', value: scaling.attentionFactor }], [`${arch}.rope.scaling.original_context_length`, { type: 'u32', value: scaling.originalMaxPositionEmbeddings }]] as [string, GgufValue][] : []),
  ];
  const notes: string[] = [];
  if (scaling?.type === 'longrope') {
    notes.push(`LongRoPE: llama.cpp picks the long or the short factors by its context size (long once it is more than ${scaling.originalMaxPositionEmbeddings} tokens, from the first token on), transformers and giftjs by each forward's positions (long once they pass ${scaling.originalMaxPositionEmbeddings}), so with a context longer than that and a text shorter than it their outputs differ`);
  }
  if (window > 0) {
    notes.push(`sliding window ${window}: written as ${arch}.attention.sliding_window (as llama.cpp's converter writes Phi-3's), but llama.cpp builds that do not read it -- node-llama-cpp 3.21.1's does not -- attend to every position, so once a context passes ${window} tokens their outputs differ from giftjs's and transformers'`);
  }
  const writer = ggufTensorWriter(outtype);
  const add = (name: string, t: Tensor, permuteHeads = 0) =>
    writer.add(name, t, permuteHeads ? (values) => interleaveRopePairs(values, permuteHeads, t.shape[1]!) : undefined);
  add('token_embd.weight', model.model.embed_tokens.weight);
  model.model.layers.forEach((layer, i) => {
    const p = `blk.${i}.`;
    add(`${p}attn_norm.weight`, layer.input_layernorm.weight);
    if (layer.self_attn.qkv_proj) {
      add(`${p}attn_qkv.weight`, layer.self_attn.qkv_proj.weight); // Phi-3's [q; k; v] rows, as llama.cpp keeps them
    } else {
      add(`${p}attn_q.weight`, layer.self_attn.q_proj!.weight, permute ? c.numHeads : 0);
      add(`${p}attn_k.weight`, layer.self_attn.k_proj!.weight, permute ? c.numKvHeads : 0);
      add(`${p}attn_v.weight`, layer.self_attn.v_proj!.weight);
    }
    if (arch === 'qwen2') {
      add(`${p}attn_q.bias`, layer.self_attn.q_proj!.bias!);
      add(`${p}attn_k.bias`, layer.self_attn.k_proj!.bias!);
      add(`${p}attn_v.bias`, layer.self_attn.v_proj!.bias!);
    }
    if (arch === 'qwen3') {
      add(`${p}attn_q_norm.weight`, layer.self_attn.q_norm!.weight);
      add(`${p}attn_k_norm.weight`, layer.self_attn.k_norm!.weight);
    }
    add(`${p}attn_output.weight`, layer.self_attn.o_proj.weight);
    add(`${p}ffn_norm.weight`, layer.post_attention_layernorm.weight);
    if (layer.mlp.gate_up_proj) add(`${p}ffn_up.weight`, layer.mlp.gate_up_proj.weight); // [gate; up] rows
    else {
      add(`${p}ffn_gate.weight`, layer.mlp.gate_proj!.weight);
      add(`${p}ffn_up.weight`, layer.mlp.up_proj!.weight);
    }
    add(`${p}ffn_down.weight`, layer.mlp.down_proj.weight);
  });
  add('output_norm.weight', model.model.norm.weight);
  if (scaling?.type === 'llama3') writer.addVector('rope_freqs.weight', Float32Array.from(ropeFrequencyFactors(c.headDim, { theta: c.ropeTheta, scaling })));
  if (scaling?.type === 'longrope') {
    writer.addVector('rope_factors_long.weight', Float32Array.from(scaling.longFactor));
    writer.addVector('rope_factors_short.weight', Float32Array.from(scaling.shortFactor));
  }
  if (model.lm_head) add('output.weight', model.lm_head.weight); // tied: llama.cpp reads token_embd
  return { metadata, tensors: writer.tensors, keptF32: writer.keptF32, notes };
}

/** Rows of each head reordered from halves (Hugging Face's RoPE) to interleaved pairs (llama.cpp's). */
function interleaveRopePairs(w: Float32Array, heads: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const d = w.length / cols / heads;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < d / 2; i++) {
        const from = (h * d + j * (d / 2) + i) * cols;
        const to = (h * d + 2 * i + j) * cols;
        out.set(w.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

/** The Hugging Face architectures written as GGUF, and llama.cpp's name for each. */
const TO_GGUF: Record<string, 'llama' | 'qwen2' | 'qwen3' | 'phi3'> = { LlamaForCausalLM: 'llama', MistralForCausalLM: 'llama', Qwen2ForCausalLM: 'qwen2', Qwen3ForCausalLM: 'qwen3', Phi3ForCausalLM: 'phi3' };

/** The GGUF architectures this family reads, and the Hugging Face architecture each becomes. */
const FROM_GGUF = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM', phi3: 'Phi3ForCausalLM' } as const;
export type LlamaGgufArchitecture = keyof typeof FROM_GGUF;

/**
 * The other way: a GGUF "llama" file (Llama, Mistral, and the Llama-shaped models llama.cpp writes
 * so; q and k rows permuted back to halves), "qwen2" (q/k/v biases), "qwen3" (per-head q/k norms) or
 * "phi3" (fused attn_qkv and ffn_up = [gate; up], a sliding window when the file names one),
 * as a Hugging Face config.json object and, for each parameter, the GGUF tensor it reads. What this
 * family cannot hold (RoPE frequency tensors, a partial rotary dimension, tensors it has no parameter
 * for) is refused by name.
 */
export function llamaFromGguf(file: GgufFile, arch: LlamaGgufArchitecture = 'llama'): GgufImport {
  const key = (k: string) => `${arch}.${k}`;
  const hidden = file.number(key('embedding_length'));
  const heads = file.number(key('attention.head_count'));
  const kvHeads = file.number(key('attention.head_count_kv'), heads);
  const headDim = file.number(key('attention.key_length'), hidden / heads);
  const layers = file.number(key('block_count'));
  const ropeDim = file.number(key('rope.dimension_count'), headDim);
  // A partial rotary dimension: Phi-3's (Phi-4-mini rotates three quarters of each head).
  if (ropeDim !== headDim && arch !== 'phi3') throw new GiftjsError(`${file.path}: ${key('rope.dimension_count')} ${ropeDim} is not the head size ${headDim} (partial rotary embeddings are read for "phi3" files)`);
  const scalingType = file.string(key('rope.scaling.type'));
  let ropeScaling: Record<string, unknown> | null = null;
  if (scalingType === 'linear') ropeScaling = { rope_type: 'linear', factor: file.number(key('rope.scaling.factor')) };
  else if (scalingType !== null && scalingType !== 'none') throw new GiftjsError(`${file.path}: ${key('rope.scaling.type')} ${preview(scalingType)} is not supported (none and linear are)`);
  const freqs = file.tensors.has('rope_freqs.weight') ? llama3RopeOf(file, arch, headDim, file.number(key('rope.freq_base'), 10000)) : undefined;
  const longRope = file.tensors.has('rope_factors_long.weight') || file.tensors.has('rope_factors_short.weight') ? longRopeOf(file, arch, ropeDim) : undefined;
  for (const scaled of [freqs, longRope]) {
    if (scaled === undefined) continue;
    if (ropeScaling) throw new GiftjsError(`${file.path}: RoPE is scaled twice (${key('rope.scaling.type')}, rope_freqs.weight, rope_factors_*.weight); giftjs reads one`);
    ropeScaling = scaled;
  }
  const tokens = file.array('tokenizer.ggml.tokens');
  const tied = !file.tensors.has('output.weight');
  const id = (k: string): number | null => (file.metadata.has(k) ? file.number(k) : null);
  const config: Record<string, unknown> = {
    architectures: [FROM_GGUF[arch]],
    model_type: arch,
    vocab_size: file.number(key('vocab_size'), tokens?.length ?? file.info('token_embd.weight').shape[0]),
    hidden_size: hidden,
    intermediate_size: file.number(key('feed_forward_length')),
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    rms_norm_eps: file.number(key('attention.layer_norm_rms_epsilon'), arch === 'llama' ? 1e-5 : 1e-6),
    rope_theta: file.number(key('rope.freq_base'), 10000),
    rope_scaling: ropeScaling,
    max_position_embeddings: file.number(key('context_length'), 2048),
    tie_word_embeddings: tied,
    hidden_act: 'silu',
    ...(arch === 'phi3' ? { sliding_window: file.metadata.has(key('attention.sliding_window')) ? file.number(key('attention.sliding_window')) : null } : {}),
    ...(ropeDim !== headDim ? { partial_rotary_factor: ropeDim / headDim } : {}),
    bos_token_id: id('tokenizer.ggml.bos_token_id'),
    eos_token_id: id('tokenizer.ggml.eos_token_id'),
    torch_dtype: 'float32',
  };
  const tensors: Record<string, GgufTensorSource> = { 'model.embed_tokens.weight': { tensor: 'token_embd.weight' }, 'model.norm.weight': { tensor: 'output_norm.weight' } };
  if (!tied) tensors['lm_head.weight'] = { tensor: 'output.weight' };
  for (let i = 0; i < layers; i++) {
    const hf = `model.layers.${i}.`;
    const g = `blk.${i}.`;
    Object.assign(tensors, {
      [`${hf}input_layernorm.weight`]: { tensor: `${g}attn_norm.weight` },
      [`${hf}self_attn.o_proj.weight`]: { tensor: `${g}attn_output.weight` },
      [`${hf}post_attention_layernorm.weight`]: { tensor: `${g}ffn_norm.weight` },
      [`${hf}mlp.down_proj.weight`]: { tensor: `${g}ffn_down.weight` },
    });
    if (arch === 'phi3') {
      // Phi-3's fused projections, as llama.cpp keeps them: [q; k; v] rows and [gate; up] rows.
      tensors[`${hf}self_attn.qkv_proj.weight`] = { tensor: `${g}attn_qkv.weight` };
      tensors[`${hf}mlp.gate_up_proj.weight`] = { tensor: `${g}ffn_up.weight` };
    } else {
      Object.assign(tensors, {
        // llama.cpp's "llama" rotates interleaved pairs (its converter permuted q and k); qwen2/qwen3 rotate halves, as transformers.
        [`${hf}self_attn.q_proj.weight`]: { tensor: `${g}attn_q.weight`, ...(arch === 'llama' ? { unpermuteHeads: heads } : {}) },
        [`${hf}self_attn.k_proj.weight`]: { tensor: `${g}attn_k.weight`, ...(arch === 'llama' ? { unpermuteHeads: kvHeads } : {}) },
        [`${hf}self_attn.v_proj.weight`]: { tensor: `${g}attn_v.weight` },
        [`${hf}mlp.gate_proj.weight`]: { tensor: `${g}ffn_gate.weight` },
        [`${hf}mlp.up_proj.weight`]: { tensor: `${g}ffn_up.weight` },
      });
    }
    if (arch === 'qwen2') for (const x of 'qkv') tensors[`${hf}self_attn.${x}_proj.bias`] = { tensor: `${g}attn_${x}.bias` };
    if (arch === 'qwen3') {
      tensors[`${hf}self_attn.q_norm.weight`] = { tensor: `${g}attn_q_norm.weight` };
      tensors[`${hf}self_attn.k_norm.weight`] = { tensor: `${g}attn_k_norm.weight` };
    }
  }
  const read = new Set(Object.values(tensors).map((t) => t.tensor));
  if (freqs !== undefined) read.add('rope_freqs.weight'); // read into config.json's rope_scaling
  if (longRope !== undefined) for (const t of ['rope_factors_long.weight', 'rope_factors_short.weight']) read.add(t);
  const unread = [...file.tensors.keys()].filter((n) => !read.has(n));
  if (unread.length > 0) throw new GiftjsError(`${file.path}: tensors ${unread.slice(0, 4).map(preview).join(', ')}${unread.length > 4 ? ', ...' : ''} have no place in a ${FROM_GGUF[arch]} (tensors giftjs does not read in GGUF "${arch}" files)`);
  return { config, tensors };
}

/**
 * A GGUF's rope_freqs.weight (llama.cpp's per-frequency RoPE divisors, as its converter writes Llama
 * 3's scaling) as config.json's rope_scaling: Llama 3's parameters that give exactly these factors
 * (null where every factor is 1), or a refusal naming what they are not.
 */
function llama3RopeOf(file: GgufFile, arch: LlamaGgufArchitecture, headDim: number, theta: number): Record<string, unknown> | null {
  const info = file.info('rope_freqs.weight');
  if (arch !== 'llama' || info.shape.length !== 1 || info.shape[0] !== headDim / 2) {
    throw new GiftjsError(`${file.path}: rope_freqs.weight of shape [${info.shape.join(', ')}] in a "${arch}" file is not Llama 3's RoPE scaling (a "llama" file's ${headDim / 2} factors)`);
  }
  const factors = new Float32Array(headDim / 2);
  file.readInto('rope_freqs.weight', factors);
  const scaling = llama3ScalingOfFactors(factors, headDim, theta);
  const again = scaling ? ropeFrequencyFactors(headDim, { theta, scaling }) : new Float64Array(headDim / 2).fill(1);
  const worst = Math.max(...Array.from(factors, (f, i) => Math.abs(f - again[i]!) / again[i]!));
  if (!(worst <= 1e-5)) throw new GiftjsError(`${file.path}: rope_freqs.weight (${Array.from(factors.slice(0, 6), (f) => f.toPrecision(4)).join(', ')}${factors.length > 6 ? ', ...' : ''}) is not a Llama 3 RoPE scaling (factors kept at 1, a blended band, then one factor): giftjs reads no other`);
  return scaling && { rope_type: 'llama3', factor: scaling.factor, low_freq_factor: scaling.lowFreqFactor, high_freq_factor: scaling.highFreqFactor, original_max_position_embeddings: scaling.originalMaxPositionEmbeddings };
}

/**
 * Phi-3.5's and Phi-4-mini's LongRoPE as llama.cpp's converter writes it -- rope_factors_long and
 * rope_factors_short (a factor per rotated frequency), rope.scaling.original_context_length and
 * rope.scaling.attn_factor -- as config.json's rope_scaling.
 */
function longRopeOf(file: GgufFile, arch: LlamaGgufArchitecture, ropeDim: number): Record<string, unknown> {
  const factors = (name: string): number[] => {
    if (!file.tensors.has(name)) throw new GiftjsError(`${file.path}: LongRoPE needs both rope_factors_long.weight and rope_factors_short.weight; ${name} is missing`);
    const info = file.info(name);
    if (arch !== 'phi3' || info.shape.length !== 1 || info.shape[0] !== ropeDim / 2) {
      throw new GiftjsError(`${file.path}: ${name} of shape [${info.shape.join(', ')}] in a "${arch}" file is not LongRoPE's (a "phi3" file's ${ropeDim / 2} factors)`);
    }
    const out = new Float32Array(ropeDim / 2);
    file.readInto(name, out);
    return Array.from(out);
  };
  const original = `${arch}.rope.scaling.original_context_length`;
  if (!file.metadata.has(original)) throw new GiftjsError(`${file.path}: LongRoPE needs ${original} (the pretraining length that switches short and long factors)`);
  const attention = `${arch}.rope.scaling.attn_factor`;
  return {
    rope_type: 'longrope',
    long_factor: factors('rope_factors_long.weight'),
    short_factor: factors('rope_factors_short.weight'),
    original_max_position_embeddings: file.number(original),
    ...(file.metadata.has(attention) ? { attention_factor: file.number(attention) } : {}),
  };
}

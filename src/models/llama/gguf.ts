// A Llama-family model as llama.cpp's GGUF "llama" architecture: its hyperparameters as llama.*
// keys, its tensors under llama.cpp's names (blk.N.attn_q, ...). llama.cpp's Llama applies RoPE to
// interleaved pairs where Hugging Face's rotates halves, so q_proj and k_proj rows are permuted
// per head as llama.cpp's own converter permutes them: row (h, j, i) of Hugging Face's
// [heads, 2, d/2] layout becomes row (h, i, j). Weights go out as F32, F16, BF16, Q8_0 or Q4_0 (a
// matrix whose rows are not whole blocks of 32 stays F32 in a quantized file, as llama.cpp's
// converter does). giftjs's int8 in groups of 32 is Q8_0 and its int4 is Q4_0, byte for byte.
import type { GgmlType, GgufModel, GgufOutType, GgufValue } from '../../io/gguf.js';
import { GGML_TYPE } from '../../io/gguf.js';
import { float32ToBf16, float32ToFloat16 } from '../../formats/dtype.js';
import { emptyQuantized } from '../../formats/quantized.js';
import { quantizeValues } from '../../tensor/tensor.js';
import type { Tensor } from '../../tensor/tensor.js';
import type { LlamaForCausalLM } from './model.js';
import { releaseMappedWeight } from '../causal_lm.js';
import { preview, type GgufFile } from '../../io/gguf_reader.js';
import type { GgufTensorSource } from '../../io/gguf_weights.js';
import type { GgufImport } from '../gguf_import.js';
import { GiftjsError } from '../../errors.js';

/** general.file_type: what most tensors are. */
const FILE_TYPE: Record<GgufOutType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7, bf16: 32 };

/** The architecture, hyperparameters and tensors (the tokenizer's keys come from the folder). */
export function llamaGguf(model: LlamaForCausalLM, outtype: GgufOutType): GgufModel {
  const c = model.config;
  const arch = TO_GGUF[c.architecture];
  if (!arch) throw new GiftjsError(`GGUF export writes llama.cpp's "llama", "qwen2", "qwen3" and "phi3" architectures (${Object.keys(TO_GGUF).join(', ')}); ${c.architecture} is not supported yet`);
  if (c.ropeScaling) throw new GiftjsError(`GGUF export: rope_scaling '${c.ropeScaling.type}' needs llama.cpp's rope frequency tensors, which are not written yet`);
  if (c.rotaryDim !== c.headDim) throw new GiftjsError(`GGUF export: a partial rotary embedding (${c.rotaryDim} of ${c.headDim} dimensions) is not written yet`);
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
    ['general.architecture', { type: 'string', value: arch }],
    ['general.name', { type: 'string', value: model.sourceDir?.split('/').filter(Boolean).pop() ?? 'giftjs' }],
    ['general.file_type', { type: 'u32', value: FILE_TYPE[outtype] }],
    [`${arch}.vocab_size`, { type: 'u32', value: c.vocabSize }],
    [`${arch}.context_length`, { type: 'u32', value: c.maxPositionEmbeddings }],
    [`${arch}.embedding_length`, { type: 'u32', value: c.hiddenSize }],
    [`${arch}.block_count`, { type: 'u32', value: c.numLayers }],
    [`${arch}.feed_forward_length`, { type: 'u32', value: c.intermediateSize }],
    [`${arch}.rope.dimension_count`, { type: 'u32', value: c.headDim }],
    [`${arch}.rope.freq_base`, { type: 'f32', value: c.ropeTheta }],
    [`${arch}.attention.head_count`, { type: 'u32', value: c.numHeads }],
    [`${arch}.attention.head_count_kv`, { type: 'u32', value: c.numKvHeads }],
    [`${arch}.attention.layer_norm_rms_epsilon`, { type: 'f32', value: c.rmsNormEps }],
    [`${arch}.attention.key_length`, { type: 'u32', value: c.headDim }],
    [`${arch}.attention.value_length`, { type: 'u32', value: c.headDim }],
    ...(window > 0 ? [[`${arch}.attention.sliding_window`, { type: 'u32', value: window }] as [string, GgufValue]] : []),
  ];
  const keptF32: string[] = [];
  const notes: string[] = [];
  if (window > 0) {
    notes.push(`sliding window ${window}: written as ${arch}.attention.sliding_window (as llama.cpp's converter writes Phi-3's), but llama.cpp builds that do not read it -- node-llama-cpp 3.21.1's does not -- attend to every position, so once a context passes ${window} tokens their outputs differ from giftjs's and transformers'`);
  }
  const tensors: GgufModel['tensors'] = [];
  const add = (name: string, t: Tensor, permuteHeads = 0) => {
    let values = t.toFloat32Array();
    // A weight mapped from its checkpoint is read once: its pages go back now (the file keeps them).
    releaseMappedWeight(t);
    if (permuteHeads) values = interleaveRopePairs(values, permuteHeads, t.shape[1]!);
    if (t.rank === 1) {
      tensors.push({ name, shape: [...t.shape], type: GGML_TYPE.F32, data: bytesOf(values) }); // norms stay F32, as llama.cpp keeps them
      return;
    }
    const [rows, cols] = t.shape as [number, number];
    let type: GgmlType = { f32: GGML_TYPE.F32, f16: GGML_TYPE.F16, bf16: GGML_TYPE.BF16, q8_0: GGML_TYPE.Q8_0, q4_0: GGML_TYPE.Q4_0 }[outtype];
    if ((type === GGML_TYPE.Q8_0 || type === GGML_TYPE.Q4_0) && cols % 32 !== 0) {
      type = GGML_TYPE.F32;
      keptF32.push(name);
    }
    tensors.push({ name, shape: [rows, cols], type, data: encode(values, rows, cols, type, name) });
  };
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
  if (model.lm_head) add('output.weight', model.lm_head.weight); // tied: llama.cpp reads token_embd
  return { metadata, tensors, keptF32, notes };
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

function bytesOf(a: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** A [rows, cols] float32 matrix in a ggml type; Q8_0 / Q4_0 blocks (d as float16, then the codes) by llama.cpp's rules. */
function encode(values: Float32Array, rows: number, cols: number, type: GgmlType, name: string): Uint8Array {
  if (type === GGML_TYPE.F32) return bytesOf(values);
  if (type === GGML_TYPE.F16) return bytesOf(float32ToFloat16(values));
  if (type === GGML_TYPE.BF16) return bytesOf(float32ToBf16(values));
  // Q8_0: the int8 quantizer over groups of 32 (Q8_0's rule); Q4_0: the int4 quantizer (Q4_0's rule
  // and nibble order). Each block is its scale, then its codes.
  const q4 = type === GGML_TYPE.Q4_0;
  const q = q4
    ? quantizeValues(values, rows, cols, 'int4', `'${name}'`)
    : quantizeValues(values, rows, cols, 'int8', `'${name}'`, emptyQuantized('int8', rows, cols, undefined, 32));
  const codeBytes = q4 ? 16 : 32;
  const blocks = (rows * cols) / 32;
  const out = new Uint8Array(blocks * (2 + codeBytes));
  for (let b = 0; b < blocks; b++) {
    const at = b * (2 + codeBytes);
    out[at] = q.scales[b]! & 0xff;
    out[at + 1] = q.scales[b]! >> 8;
    out.set(q.codes.subarray(b * codeBytes, (b + 1) * codeBytes), at + 2);
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
  if (ropeDim !== headDim) throw new GiftjsError(`${file.path}: ${key('rope.dimension_count')} ${ropeDim} is not the head size ${headDim} (partial rotary embeddings are not supported)`);
  if (file.tensors.has('rope_freqs.weight')) throw new GiftjsError(`${file.path}: rope_freqs.weight (RoPE frequencies stored as a tensor, as llama.cpp writes Llama 3.1's scaling) is not supported yet`);
  const scalingType = file.string(key('rope.scaling.type'));
  let ropeScaling: Record<string, unknown> | null = null;
  if (scalingType === 'linear') ropeScaling = { rope_type: 'linear', factor: file.number(key('rope.scaling.factor')) };
  else if (scalingType !== null && scalingType !== 'none') throw new GiftjsError(`${file.path}: ${key('rope.scaling.type')} ${preview(scalingType)} is not supported (none and linear are)`);
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
  const unread = [...file.tensors.keys()].filter((n) => !read.has(n));
  if (unread.length > 0) throw new GiftjsError(`${file.path}: tensors ${unread.slice(0, 4).map(preview).join(', ')}${unread.length > 4 ? ', ...' : ''} have no place in a ${FROM_GGUF[arch]} (tensors giftjs does not read in GGUF "${arch}" files)`);
  return { config, tensors };
}

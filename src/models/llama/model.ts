// LlamaForCausalLM with Hugging Face's module tree and tensor names, so that a checkpoint's
// "model.layers.3.self_attn.q_proj.weight" is exactly this model's parameter of that path.
import { GiftjsError } from '../../errors.js';
import { Embedding, Linear, RMSNorm } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { swiglu } from '../../ops/activations.js';
import { scaledDotProductAttention } from '../../ops/attention.js';
import { add } from '../../ops/elementwise.js';
import { rope, ropeAtPositions, rotateLeadingDims } from '../../ops/rope.js';
import { reshape, slice, transpose } from '../../ops/shape_ops.js';
import { Random } from '../../tensor/random.js';
import { Tensor } from '../../tensor/tensor.js';
import { llamaInverseFrequencies, parseLlamaConfig, type LlamaConfig } from './config.js';
import type { GgufModel, GgufOutType } from '../../io/gguf.js';
import { llamaGguf } from './gguf.js';
import { KVCache, type PackedLayout, type StepInputs, type WeightLoadOptions } from '../causal_lm.js';
import { DecoderOnlyLM, loadDecoderFolder } from '../decoder_lm.js';

// The contract's shared pieces, still reachable from here.
export { KVCache, shiftLabels, type CausalLMForwardOptions, type WeightLoadOptions } from '../causal_lm.js';

interface StepContext {
  batch: number;
  seq: number;
  positionOffset: number;
  /** This forward's RoPE frequencies (LongRoPE's short or long ones) and the scale of cos/sin. */
  invFreq: Float64Array;
  ropeScale: number;
  keyMask: Float32Array | null;
  cache: KVCache | null;
  /** Packed sequences: keyMask holds segment ids, and each token's position in its segment. */
  packed: PackedLayout | null;
}

class LlamaAttention extends Module {
  /** Separate projections (null with Phi-3's fused qkv_proj, and the other way round). */
  readonly q_proj: Linear | null;
  readonly k_proj: Linear | null;
  readonly v_proj: Linear | null;
  readonly qkv_proj: Linear | null;
  readonly o_proj: Linear;
  /** Qwen3: RMSNorm over each head of q and of k, before RoPE. */
  readonly q_norm: RMSNorm | null;
  readonly k_norm: RMSNorm | null;
  constructor(private readonly c: LlamaConfig, private readonly layerIndex: number, rng: Random | null) {
    super();
    const [q, kv] = [c.numHeads * c.headDim, c.numKvHeads * c.headDim];
    const fused = c.fusedProjections;
    this.q_proj = fused ? null : this.child('q_proj', new Linear(c.hiddenSize, q, rng, c.qkvBias));
    this.k_proj = fused ? null : this.child('k_proj', new Linear(c.hiddenSize, kv, rng, c.qkvBias));
    this.v_proj = fused ? null : this.child('v_proj', new Linear(c.hiddenSize, kv, rng, c.qkvBias));
    this.qkv_proj = fused ? this.child('qkv_proj', new Linear(c.hiddenSize, q + 2 * kv, rng, c.qkvBias)) : null;
    this.o_proj = this.child('o_proj', new Linear(q, c.hiddenSize, rng, c.outputBias));
    this.q_norm = c.qkNorm ? this.child('q_norm', new RMSNorm(c.headDim, c.rmsNormEps)) : null;
    this.k_norm = c.qkNorm ? this.child('k_norm', new RMSNorm(c.headDim, c.rmsNormEps)) : null;
  }

  /** q, k, v [batch, seq, n * hd] from the separate projections or the columns of the fused one. */
  private project(x: Tensor): [Tensor, Tensor, Tensor] {
    if (!this.qkv_proj) return [this.q_proj!.forward(x), this.k_proj!.forward(x), this.v_proj!.forward(x)];
    const [q, kv] = [this.c.numHeads * this.c.headDim, this.c.numKvHeads * this.c.headDim];
    const qkv = this.qkv_proj.forward(x);
    return [slice(qkv, 2, 0, q), slice(qkv, 2, q, q + kv), slice(qkv, 2, q + kv, q + 2 * kv)];
  }

  forward(x: Tensor, ctx: StepContext): Tensor {
    const { batch, seq } = ctx;
    const hd = this.c.headDim;
    // [batch, seq, n * hd] -> [batch, n, seq, hd], each head normalized first where the family does.
    const heads = (t: Tensor, n: number, norm: RMSNorm | null = null) => {
      const split = reshape(t, [batch, seq, n, hd]);
      return transpose(norm ? norm.forward(split) : split, 1, 2);
    };
    const rotateAll = (t: Tensor) => {
      const options = { invFreq: ctx.invFreq, scale: ctx.ropeScale };
      return ctx.packed ? ropeAtPositions(t, ctx.packed.positions, options) : rope(t, { ...options, positionOffset: ctx.positionOffset });
    };
    // Phi-3's partial rotary: the first rotaryDim dimensions of each head rotate, the rest pass through.
    const rotate = (t: Tensor) => rotateLeadingDims(t, this.c.rotaryDim, rotateAll);
    const [qx, kx, vx] = this.project(x);
    const q = rotate(heads(qx, this.c.numHeads, this.q_norm));
    const k = rotate(heads(kx, this.c.numKvHeads, this.k_norm));
    const v = heads(vx, this.c.numKvHeads);
    const keys = ctx.cache ? ctx.cache.append(this.layerIndex, k, v) : { k, v, keyLength: undefined };
    const attn = scaledDotProductAttention(q, keys.k, keys.v, { keyLength: keys.keyLength, causal: true, keyPaddingMask: ctx.keyMask, window: this.c.layerWindows[this.layerIndex]!, segmented: ctx.packed !== null });
    return this.o_proj.forward(reshape(transpose(attn, 1, 2), [batch, seq, this.c.numHeads * hd]));
  }
}

class LlamaMLP extends Module {
  /** Separate gate and up projections (null with Phi-3's fused gate_up_proj, and the other way round). */
  readonly gate_proj: Linear | null;
  readonly up_proj: Linear | null;
  readonly gate_up_proj: Linear | null;
  readonly down_proj: Linear;
  constructor(private readonly c: LlamaConfig, rng: Random | null) {
    super();
    const fused = c.fusedProjections;
    this.gate_proj = fused ? null : this.child('gate_proj', new Linear(c.hiddenSize, c.intermediateSize, rng, c.mlpBias));
    this.up_proj = fused ? null : this.child('up_proj', new Linear(c.hiddenSize, c.intermediateSize, rng, c.mlpBias));
    this.gate_up_proj = fused ? this.child('gate_up_proj', new Linear(c.hiddenSize, 2 * c.intermediateSize, rng, c.mlpBias)) : null;
    this.down_proj = this.child('down_proj', new Linear(c.intermediateSize, c.hiddenSize, rng, c.mlpBias));
  }
  forward(x: Tensor): Tensor {
    if (!this.gate_up_proj) return this.down_proj.forward(swiglu(this.gate_proj!.forward(x), this.up_proj!.forward(x)));
    const n = this.c.intermediateSize;
    const gateUp = this.gate_up_proj.forward(x);
    return this.down_proj.forward(swiglu(slice(gateUp, 2, 0, n), slice(gateUp, 2, n, 2 * n)));
  }
}

class LlamaDecoderLayer extends Module {
  readonly input_layernorm: RMSNorm;
  readonly self_attn: LlamaAttention;
  readonly post_attention_layernorm: RMSNorm;
  readonly mlp: LlamaMLP;
  constructor(c: LlamaConfig, index: number, rng: Random | null) {
    super();
    this.input_layernorm = this.child('input_layernorm', new RMSNorm(c.hiddenSize, c.rmsNormEps));
    this.self_attn = this.child('self_attn', new LlamaAttention(c, index, rng));
    this.post_attention_layernorm = this.child('post_attention_layernorm', new RMSNorm(c.hiddenSize, c.rmsNormEps));
    this.mlp = this.child('mlp', new LlamaMLP(c, rng));
  }
  forward(x: Tensor, ctx: StepContext): Tensor {
    const h = add(x, this.self_attn.forward(this.input_layernorm.forward(x), ctx));
    return add(h, this.mlp.forward(this.post_attention_layernorm.forward(h)));
  }
}

class LlamaModel extends Module {
  readonly embed_tokens: Embedding;
  readonly layers: LlamaDecoderLayer[];
  readonly norm: RMSNorm;
  constructor(c: LlamaConfig, rng: Random | null) {
    super();
    this.embed_tokens = this.child('embed_tokens', new Embedding(c.vocabSize, c.hiddenSize, rng, 0.02));
    this.layers = Array.from({ length: c.numLayers }, (_, i) => this.child(`layers.${i}`, new LlamaDecoderLayer(c, i, rng)));
    this.norm = this.child('norm', new RMSNorm(c.hiddenSize, c.rmsNormEps));
  }
}

/** Checkpoint tensors that carry no parameters (buffers some exporters write). */
const IGNORED_TENSORS = /(^|\.)rotary_emb\.inv_freq$/;

export class LlamaForCausalLM extends DecoderOnlyLM<LlamaConfig, LlamaModel, StepContext> {
  readonly invFreq: Float64Array;
  /** LongRoPE's long frequencies, for forwards whose positions pass the pretraining length; null without LongRoPE. */
  readonly longInvFreq: Float64Array | null;

  /** Builds the module tree; weights are random (rng) or zeros awaiting a checkpoint (null). */
  constructor(config: LlamaConfig, rng: Random | null = null) {
    super(config, new LlamaModel(config, rng), rng, IGNORED_TENSORS);
    this.invFreq = llamaInverseFrequencies(config);
    this.longInvFreq = config.ropeScaling?.type === 'longrope' ? llamaInverseFrequencies(config, true) : null;
  }

  /** Loads a Hugging Face folder: config.json and safetensors weights (sharded or not). */
  static fromPretrained(dir: string, options: WeightLoadOptions = {}): LlamaForCausalLM {
    return loadDecoderFolder(dir, parseLlamaConfig, (config) => new LlamaForCausalLM(config), options);
  }

  protected layerContext({ cache, past, keyMask, packed }: StepInputs, batch: number, seq: number): StepContext {
    const s = this.config.ropeScaling;
    if (cache && s?.type === 'longrope') {
      cache.lengthDependentKeys = true;
      if (past + seq > cache.reusableUpTo) throw new GiftjsError(`${this.config.architecture}: the KV cache holds keys rotated with LongRoPE's short factors; past ${cache.reusableUpTo} positions it must be rebuilt from all the tokens (generate does)`);
      if (past + seq <= s.originalMaxPositionEmbeddings) cache.reusableUpTo = s.originalMaxPositionEmbeddings;
    }
    return { batch, seq, positionOffset: past, ...this.ropeFor(packed ? packed.positions.reduce((m, p) => Math.max(m, p + 1), 0) : past + seq), keyMask, cache, packed };
  }

  /**
   * The frequencies and cos/sin scale of a forward whose positions reach `length` - 1: LongRoPE's
   * long factors past the pretraining length, as transformers switches per forward (cached keys
   * keep the rotation they were made with); YaRN's frequencies and attention factor at every length.
   */
  private ropeFor(length: number): { invFreq: Float64Array; ropeScale: number } {
    const s = this.config.ropeScaling;
    if (s?.type === 'yarn') return { invFreq: this.invFreq, ropeScale: s.attentionFactor };
    if (s?.type !== 'longrope') return { invFreq: this.invFreq, ropeScale: 1 };
    return { invFreq: length > s.originalMaxPositionEmbeddings ? this.longInvFreq! : this.invFreq, ropeScale: s.attentionFactor };
  }

  gguf(outtype: GgufOutType): GgufModel {
    return llamaGguf(this, outtype);
  }

  /** A randomly initialised model of a config (tests, benchmarks). */
  static random(config: LlamaConfig, seed = 0): LlamaForCausalLM {
    return new LlamaForCausalLM(config, new Random(seed));
  }
}

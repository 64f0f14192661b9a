// Gemma3ForCausalLM (text), Gemma2ForCausalLM and GemmaForCausalLM with Hugging Face's module tree and tensor names:
// "model.layers.3.pre_feedforward_layernorm.weight" is exactly this model's parameter of that path.
import { Embedding, Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { gelu, tanh } from '../../ops/activations.js';
import { scaledDotProductAttention } from '../../ops/attention.js';
import { add, addScalar, mul, scale } from '../../ops/elementwise.js';
import { rmsNorm } from '../../ops/norms.js';
import { rope, ropeAtPositions } from '../../ops/rope.js';
import { reshape, transpose } from '../../ops/shape_ops.js';
import { Random } from '../../tensor/random.js';
import { Tensor } from '../../tensor/tensor.js';
import { parseGemmaConfig, type GemmaConfig } from './config.js';
import { ropeInverseFrequencies } from '../rope.js';
import type { GgufModel, GgufOutType } from '../../io/gguf.js';
import { gemmaGguf } from './gguf.js';
import type { StepInputs, WeightLoadOptions } from '../causal_lm.js';
import { DecoderOnlyLM, loadDecoderFolder, positionalStepContext, ROTARY_BUFFERS, type PositionalStepContext } from '../decoder_lm.js';

/** What each layer reads beside the hidden states. */
type StepContext = PositionalStepContext;

/** Gemma's RMSNorm: x / rms(x) * (1 + weight), the weight stored as the offset from 1 (zeros = identity). */
class GemmaRMSNorm extends Module {
  readonly weight: Tensor;
  constructor(readonly dim: number, readonly eps: number) {
    super();
    this.weight = this.param('weight', Tensor.zeros([dim]));
  }
  forward(x: Tensor): Tensor {
    return rmsNorm(x, addScalar(this.weight, 1), this.eps);
  }
}

class GemmaAttention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  readonly q_norm: GemmaRMSNorm | null;
  readonly k_norm: GemmaRMSNorm | null;
  /** This layer's RoPE frequencies: the global or the local (sliding) layers'. */
  private readonly invFreq: Float64Array;
  constructor(private readonly c: GemmaConfig, private readonly layerIndex: number, rng: Random | null, invFreq: Float64Array) {
    super();
    const hd = c.headDim;
    this.q_proj = this.child('q_proj', new Linear(c.hiddenSize, c.numHeads * hd, rng, c.attentionBias));
    this.k_proj = this.child('k_proj', new Linear(c.hiddenSize, c.numKvHeads * hd, rng, c.attentionBias));
    this.v_proj = this.child('v_proj', new Linear(c.hiddenSize, c.numKvHeads * hd, rng, c.attentionBias));
    this.o_proj = this.child('o_proj', new Linear(c.numHeads * hd, c.hiddenSize, rng, c.attentionBias));
    this.q_norm = c.qkNorm ? this.child('q_norm', new GemmaRMSNorm(hd, c.rmsNormEps)) : null;
    this.k_norm = c.qkNorm ? this.child('k_norm', new GemmaRMSNorm(hd, c.rmsNormEps)) : null;
    this.invFreq = invFreq;
  }

  forward(x: Tensor, ctx: StepContext): Tensor {
    const { batch, seq } = ctx;
    const hd = this.c.headDim;
    // [batch, seq, n * hd] -> [batch, n, seq, hd], each head normalized first where the family does.
    const heads = (t: Tensor, n: number, norm: GemmaRMSNorm | null = null) => {
      const split = reshape(t, [batch, seq, n, hd]);
      return transpose(norm ? norm.forward(split) : split, 1, 2);
    };
    const rotate = (t: Tensor) => (ctx.packed ? ropeAtPositions(t, ctx.packed.positions, { invFreq: this.invFreq }) : rope(t, { invFreq: this.invFreq, positionOffset: ctx.positionOffset }));
    const q = rotate(heads(this.q_proj.forward(x), this.c.numHeads, this.q_norm));
    const k = rotate(heads(this.k_proj.forward(x), this.c.numKvHeads, this.k_norm));
    const v = heads(this.v_proj.forward(x), this.c.numKvHeads);
    const keys = ctx.cache ? ctx.cache.append(this.layerIndex, k, v) : { k, v, keyLength: undefined };
    const attn = scaledDotProductAttention(q, keys.k, keys.v, {
      keyLength: keys.keyLength, causal: true, keyPaddingMask: ctx.keyMask, scale: this.c.attentionScale, window: this.c.layerWindows[this.layerIndex]!,
      softcap: this.c.attnLogitSoftcap ?? 0, segmented: ctx.packed !== null,
    });
    return this.o_proj.forward(reshape(transpose(attn, 1, 2), [batch, seq, this.c.numHeads * hd]));
  }
}

/** down(gelu(gate(x)) * up(x)), the GELU as the config names it (tanh from Gemma 2 on). */
class GemmaMLP extends Module {
  readonly gate_proj: Linear;
  readonly up_proj: Linear;
  readonly down_proj: Linear;
  private readonly approximate: 'tanh' | 'none';
  constructor(c: GemmaConfig, rng: Random | null) {
    super();
    this.approximate = c.geluApproximation;
    this.gate_proj = this.child('gate_proj', new Linear(c.hiddenSize, c.intermediateSize, rng, false));
    this.up_proj = this.child('up_proj', new Linear(c.hiddenSize, c.intermediateSize, rng, false));
    this.down_proj = this.child('down_proj', new Linear(c.intermediateSize, c.hiddenSize, rng, false));
  }
  forward(x: Tensor): Tensor {
    return this.down_proj.forward(mul(gelu(this.gate_proj.forward(x), this.approximate), this.up_proj.forward(x)));
  }
}

/**
 * Gemma 2 and 3: norms before and after both the attention and the MLP, each output normalized before
 * its residual add. Gemma (1): Llama's block, where post_attention_layernorm is the MLP's input norm
 * and there is no feed-forward pair.
 */
class GemmaDecoderLayer extends Module {
  readonly input_layernorm: GemmaRMSNorm;
  readonly self_attn: GemmaAttention;
  readonly post_attention_layernorm: GemmaRMSNorm;
  readonly pre_feedforward_layernorm: GemmaRMSNorm | null;
  readonly mlp: GemmaMLP;
  readonly post_feedforward_layernorm: GemmaRMSNorm | null;
  constructor(c: GemmaConfig, index: number, rng: Random | null, invFreq: Float64Array) {
    super();
    const norm = (name: string) => this.child(name, new GemmaRMSNorm(c.hiddenSize, c.rmsNormEps));
    this.input_layernorm = norm('input_layernorm');
    this.self_attn = this.child('self_attn', new GemmaAttention(c, index, rng, invFreq));
    this.post_attention_layernorm = norm('post_attention_layernorm');
    this.pre_feedforward_layernorm = c.sandwichNorms ? norm('pre_feedforward_layernorm') : null;
    this.mlp = this.child('mlp', new GemmaMLP(c, rng));
    this.post_feedforward_layernorm = c.sandwichNorms ? norm('post_feedforward_layernorm') : null;
  }
  forward(x: Tensor, ctx: StepContext): Tensor {
    const attention = this.self_attn.forward(this.input_layernorm.forward(x), ctx);
    if (!this.pre_feedforward_layernorm || !this.post_feedforward_layernorm) {
      const h = add(x, attention);
      return add(h, this.mlp.forward(this.post_attention_layernorm.forward(h)));
    }
    const h = add(x, this.post_attention_layernorm.forward(attention));
    return add(h, this.post_feedforward_layernorm.forward(this.mlp.forward(this.pre_feedforward_layernorm.forward(h))));
  }
}

class GemmaModel extends Module {
  readonly embed_tokens: Embedding;
  readonly layers: GemmaDecoderLayer[];
  readonly norm: GemmaRMSNorm;
  constructor(c: GemmaConfig, rng: Random | null) {
    super();
    this.embed_tokens = this.child('embed_tokens', new Embedding(c.vocabSize, c.hiddenSize, rng, 0.02));
    const globalFreq = ropeInverseFrequencies(c.headDim, c.globalRope);
    const localFreq = ropeInverseFrequencies(c.headDim, c.localRope);
    this.layers = Array.from({ length: c.numLayers }, (_, i) =>
      this.child(`layers.${i}`, new GemmaDecoderLayer(c, i, rng, c.layerWindows[i]! > 0 ? localFreq : globalFreq)));
    this.norm = this.child('norm', new GemmaRMSNorm(c.hiddenSize, c.rmsNormEps));
  }
}

export class GemmaForCausalLM extends DecoderOnlyLM<GemmaConfig, GemmaModel, StepContext> {
  /** Token embeddings are multiplied by sqrt(hidden), as float32 (transformers casts it to the weights' dtype). */
  readonly embedScale: number;

  /** Builds the module tree; weights are random (rng) or zeros awaiting a checkpoint (null). The head is tied by Gemma's default. */
  constructor(config: GemmaConfig, rng: Random | null = null) {
    super(config, new GemmaModel(config, rng), rng, ROTARY_BUFFERS);
    this.embedScale = Math.fround(Math.sqrt(config.hiddenSize));
  }

  /** Loads a Hugging Face folder: config.json and safetensors weights (sharded or not). */
  static fromPretrained(dir: string, options: WeightLoadOptions = {}): GemmaForCausalLM {
    return loadDecoderFolder(dir, parseGemmaConfig, (config) => new GemmaForCausalLM(config), options);
  }

  protected layerContext(inputs: StepInputs, batch: number, seq: number): StepContext {
    return positionalStepContext(inputs, batch, seq);
  }

  protected override embed(ids: Int32Array | readonly number[], batch: number, seq: number): Tensor {
    return scale(super.embed(ids, batch, seq), this.embedScale);
  }

  /** Gemma 2's cap * tanh(logits / cap), or the logits themselves. */
  protected override finalLogits(logits: Tensor): Tensor {
    const cap = this.config.finalLogitSoftcap;
    return cap === null ? logits : scale(tanh(scale(logits, 1 / cap)), cap);
  }

  protected override get logitsChanged(): boolean {
    return this.config.finalLogitSoftcap !== null;
  }

  gguf(outtype: GgufOutType): GgufModel {
    return gemmaGguf(this, outtype);
  }

  /** A randomly initialised model of a config (tests, benchmarks). */
  static random(config: GemmaConfig, seed = 0): GemmaForCausalLM {
    return new GemmaForCausalLM(config, new Random(seed));
  }
}

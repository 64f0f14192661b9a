// PhiForCausalLM (Phi-1, Phi-1.5, Phi-2) with Hugging Face's module tree and tensor names: a checkpoint's
// "model.layers.3.self_attn.dense.weight" is exactly this model's parameter of that path.
import { Dropout, Embedding, LayerNorm, Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { gelu } from '../../ops/activations.js';
import { scaledDotProductAttention } from '../../ops/attention.js';
import { add } from '../../ops/elementwise.js';
import { rope, ropeAtPositions, rotateLeadingDims } from '../../ops/rope.js';
import { reshape, transpose } from '../../ops/shape_ops.js';
import { Random } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';
import { GiftjsError } from '../../errors.js';
import type { GgufModel, GgufOutType } from '../../io/gguf.js';
import { ropeInverseFrequencies } from '../rope.js';
import type { StepInputs, WeightLoadOptions } from '../causal_lm.js';
import { DecoderOnlyLM, loadDecoderFolder, positionalStepContext, ROTARY_BUFFERS, type PositionalStepContext } from '../decoder_lm.js';
import { parsePhiConfig, type PhiConfig } from './config.js';

/** What each layer reads beside the hidden states. */
type StepContext = PositionalStepContext;

class PhiAttention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  /** The output projection (Llama's o_proj). */
  readonly dense: Linear;
  constructor(private readonly c: PhiConfig, private readonly layerIndex: number, rng: Random | null, private readonly invFreq: Float64Array) {
    super();
    const [q, kv] = [c.numHeads * c.headDim, c.numKvHeads * c.headDim];
    this.q_proj = this.child('q_proj', new Linear(c.hiddenSize, q, rng, true));
    this.k_proj = this.child('k_proj', new Linear(c.hiddenSize, kv, rng, true));
    this.v_proj = this.child('v_proj', new Linear(c.hiddenSize, kv, rng, true));
    this.dense = this.child('dense', new Linear(q, c.hiddenSize, rng, true));
  }

  forward(x: Tensor, ctx: StepContext): Tensor {
    const { batch, seq } = ctx;
    const hd = this.c.headDim;
    // [batch, seq, n * hd] -> [batch, n, seq, hd]
    const heads = (t: Tensor, n: number) => transpose(reshape(t, [batch, seq, n, hd]), 1, 2);
    const rotateAll = (t: Tensor) => (ctx.packed ? ropeAtPositions(t, ctx.packed.positions, { invFreq: this.invFreq }) : rope(t, { invFreq: this.invFreq, positionOffset: ctx.positionOffset }));
    // The first rotaryDim dimensions of each head rotate, the rest pass through.
    const rotate = (t: Tensor) => rotateLeadingDims(t, this.c.rotaryDim, rotateAll);
    const q = rotate(heads(this.q_proj.forward(x), this.c.numHeads));
    const k = rotate(heads(this.k_proj.forward(x), this.c.numKvHeads));
    const v = heads(this.v_proj.forward(x), this.c.numKvHeads);
    const keys = ctx.cache ? ctx.cache.append(this.layerIndex, k, v) : { k, v, keyLength: undefined };
    const attn = scaledDotProductAttention(q, keys.k, keys.v, { keyLength: keys.keyLength, causal: true, keyPaddingMask: ctx.keyMask, segmented: ctx.packed !== null });
    return this.dense.forward(reshape(transpose(attn, 1, 2), [batch, seq, this.c.numHeads * hd]));
  }
}

/** fc2(gelu_tanh(fc1(x))), no gate. */
class PhiMLP extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(c: PhiConfig, rng: Random | null) {
    super();
    this.fc1 = this.child('fc1', new Linear(c.hiddenSize, c.intermediateSize, rng, true));
    this.fc2 = this.child('fc2', new Linear(c.intermediateSize, c.hiddenSize, rng, true));
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(gelu(this.fc1.forward(x), 'tanh'));
  }
}

/** One LayerNorm, then attention and the MLP side by side on its output: x + drop(attn(h)) + drop(mlp(h)). */
class PhiDecoderLayer extends Module {
  readonly input_layernorm: LayerNorm;
  readonly self_attn: PhiAttention;
  readonly mlp: PhiMLP;
  readonly resid_dropout: Dropout;
  constructor(c: PhiConfig, index: number, rng: Random | null, invFreq: Float64Array) {
    super();
    this.self_attn = this.child('self_attn', new PhiAttention(c, index, rng, invFreq));
    this.mlp = this.child('mlp', new PhiMLP(c, rng));
    this.input_layernorm = this.child('input_layernorm', new LayerNorm(c.hiddenSize, c.layerNormEps));
    this.resid_dropout = this.child('resid_dropout', new Dropout(c.residualDropout));
  }
  forward(x: Tensor, ctx: StepContext): Tensor {
    const h = this.input_layernorm.forward(x);
    const attention = this.resid_dropout.forward(this.self_attn.forward(h, ctx));
    return add(add(attention, this.resid_dropout.forward(this.mlp.forward(h))), x);
  }
}

class PhiModel extends Module {
  readonly embed_tokens: Embedding;
  readonly embed_dropout: Dropout;
  readonly layers: PhiDecoderLayer[];
  readonly final_layernorm: LayerNorm;
  constructor(c: PhiConfig, rng: Random | null) {
    super();
    this.embed_tokens = this.child('embed_tokens', new Embedding(c.vocabSize, c.hiddenSize, rng, 0.02));
    this.embed_dropout = this.child('embed_dropout', new Dropout(c.embeddingDropout));
    const invFreq = ropeInverseFrequencies(c.rotaryDim, c.rope);
    this.layers = Array.from({ length: c.numLayers }, (_, i) => this.child(`layers.${i}`, new PhiDecoderLayer(c, i, rng, invFreq)));
    this.final_layernorm = this.child('final_layernorm', new LayerNorm(c.hiddenSize, c.layerNormEps));
  }
  /** The final norm under the name every family's stack gives it (transformers names Phi's final_layernorm). */
  get norm(): LayerNorm {
    return this.final_layernorm;
  }
}

export class PhiForCausalLM extends DecoderOnlyLM<PhiConfig, PhiModel, StepContext> {
  /** Builds the module tree; weights are random (rng) or zeros awaiting a checkpoint (null). The head is untied, with a bias. */
  constructor(config: PhiConfig, rng: Random | null = null) {
    super(config, new PhiModel(config, rng), rng, ROTARY_BUFFERS, true);
  }

  /** Loads a Hugging Face folder: config.json and safetensors weights (sharded or not). */
  static fromPretrained(dir: string, options: WeightLoadOptions = {}): PhiForCausalLM {
    return loadDecoderFolder(dir, parsePhiConfig, (config) => new PhiForCausalLM(config), options);
  }

  protected layerContext(inputs: StepInputs, batch: number, seq: number): StepContext {
    return positionalStepContext(inputs, batch, seq);
  }

  protected override embed(ids: Int32Array | readonly number[], batch: number, seq: number): Tensor {
    return this.model.embed_dropout.forward(super.embed(ids, batch, seq));
  }

  gguf(_outtype: GgufOutType): GgufModel {
    throw new GiftjsError('GGUF export of PhiForCausalLM (llama.cpp\'s "phi2") is not supported yet; the Llama, Mistral, Qwen2, Qwen3, Phi-3 and Gemma families are exported');
  }

  /** A randomly initialised model of a config (tests, benchmarks). */
  static random(config: PhiConfig, seed = 0): PhiForCausalLM {
    return new PhiForCausalLM(config, new Random(seed));
  }
}

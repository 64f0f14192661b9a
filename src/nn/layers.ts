// The basic layers: Linear, Embedding, RMSNorm, LayerNorm, Dropout, DropPath. Each holds its parameters under
// PyTorch's names (weight, bias) and computes with one op.
import { dropout } from '../ops/dropout.js';
import { embedding } from '../ops/gather.js';
import { add, mul } from '../ops/elementwise.js';
import { linear } from '../ops/matmul.js';
import { layerNorm, rmsNorm } from '../ops/norms.js';
import { Random } from '../tensor/random.js';
import type { Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

/**
 * What a PEFT method attaches to a Linear to change what it computes (GIFT edits its input, LoRA
 * adds a low-rank path). The Linear keeps its own weight; the adapter decides how to use it.
 */
export interface LinearAdapter {
  forward(x: Tensor, base: Linear): Tensor;
  /** Reseeds the adapter's randomness (LoRA's dropout) before each training step, so a resumed run draws what it would have. */
  reseed?(seed: number): void;
  /** The generator the adapter draws from in training, if it draws at all (a checkpointed block's recomputation must draw the same). */
  randomSource?(): Random | null;
}

/** y = x W^T + b with W [out, in], initialised like torch.nn.Linear (Kaiming-uniform). */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /** Set by a PEFT method; null computes the plain layer. */
  adapter: LinearAdapter | null = null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, rng: Random | null, bias = true) {
    super();
    const bound = 1 / Math.sqrt(inFeatures);
    // Without rng the layer awaits a checkpoint: fresh zeros cost no memory until written.
    const init = (shape: number[]) => (rng ? Tensor.uniform(shape, rng, -bound, bound) : Tensor.freshZeros(shape));
    this.weight = this.param('weight', init([outFeatures, inFeatures]));
    this.bias = bias ? this.param('bias', init([outFeatures])) : null;
  }
  /** The layer without any adapter. */
  baseForward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
  forward(x: Tensor): Tensor {
    return this.adapter ? this.adapter.forward(x, this) : this.baseForward(x);
  }
}

/**
 * The generators the layers under `module` draw from in training (LoRA's dropout, Dropout and DropPath modules), in module order: a
 * checkpointed block saves their states before its forward and restores them before recomputing it,
 * so the backward sees the masks the forward used (PyTorch's checkpoint preserves its RNG state so).
 */
export function randomSourcesOf(module: Module): Random[] {
  const out: Random[] = [];
  for (const [, m] of module.namedModules()) {
    const r = m instanceof Linear ? m.adapter?.randomSource?.() : (m instanceof Dropout || m instanceof DropPath) && m.p > 0 ? m.rng : null;
    if (r) out.push(r);
  }
  return out;
}

/**
 * Reseeds every adapter's, Dropout's and DropPath's generator for a training step, each from its own seed drawn from the step's
 * (one seed for all had given every LoRA layer the same dropout mask for inputs of one shape --
 * q_proj's and v_proj's of a layer, and each layer's -- where PEFT's masks are independent).
 */
export function reseedRandomness(model: Module, seed: number): void {
  const seeds = new Random(seed);
  for (const [, m] of model.namedModules()) {
    if (m instanceof Linear && m.adapter?.reseed) m.adapter.reseed(seeds.nextUint32());
    else if (m instanceof Dropout || m instanceof DropPath) m.rng = new Random(seeds.nextUint32());
    else if (m instanceof Embedding && m.noiseAlpha > 0) m.noiseRng = new Random(seeds.nextUint32()); // (a draw only then: runs without NEFTune keep their seeds)
  }
}

export class Embedding extends Module {
  readonly weight: Tensor;
  /**
   * NEFTune (Jain et al., 2023; TRL's neftune_noise_alpha): in training mode, uniform noise in
   * [-m, m], m = noiseAlpha / sqrt(seq x dim), added to the embeddings of a [batch, seq] forward, as
   * transformers' neftune_post_forward_hook adds it to the input embeddings' output (seq: the padded
   * or packed row's length). 0: none. Its generator is reseeded each training step (reseedRandomness).
   */
  noiseAlpha = 0;
  noiseRng = new Random(0);
  constructor(readonly numEmbeddings: number, readonly dim: number, rng: Random | null, std = 1) {
    super();
    this.weight = this.param('weight', rng ? Tensor.randn([numEmbeddings, dim], rng, std) : Tensor.freshZeros([numEmbeddings, dim]));
  }
  forward(ids: Int32Array | readonly number[], shape?: Shape): Tensor {
    const x = embedding(this.weight, ids, shape);
    if (!(this.training && this.noiseAlpha > 0)) return x;
    const seq = shape && shape.length > 1 ? shape[shape.length - 1]! : ids.length;
    const bound = this.noiseAlpha / Math.sqrt(seq * this.dim);
    return add(x, Tensor.uniform(x.shape, this.noiseRng, -bound, bound));
  }
}

export class RMSNorm extends Module {
  readonly weight: Tensor;
  constructor(readonly dim: number, readonly eps = 1e-6) {
    super();
    this.weight = this.param('weight', Tensor.ones([dim]));
  }
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(readonly dim: number, readonly eps = 1e-5) {
    super();
    this.weight = this.param('weight', Tensor.ones([dim]));
    this.bias = this.param('bias', Tensor.zeros([dim]));
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/**
 * A model's own dropout (torch.nn.Dropout): in training mode zeroes each value with probability p and
 * scales the rest by 1 / (1 - p); in evaluation mode the identity. Its generator is reseeded for each
 * training step (reseedRandomness), so a resumed run draws the masks it would have.
 */
export class Dropout extends Module {
  rng = new Random(0);
  constructor(readonly p: number) {
    super();
  }
  /** Whether a forward drops anything: in training mode, with p > 0. */
  get active(): boolean {
    return this.training && this.p > 0;
  }
  forward(x: Tensor): Tensor {
    return this.active ? dropout(x, this.p, this.rng) : x;
  }
}

/**
 * Stochastic depth (timm's DropPath, scale_by_keep): in training mode a residual branch's output is
 * zeroed for a whole example with probability p and scaled by 1 / (1 - p) for the others; in evaluation
 * mode the identity. p is set after loading (a run's choice, not the checkpoint's: ViT's setDropPath).
 */
export class DropPath extends Module {
  rng = new Random(0);
  p = 0;
  get active(): boolean {
    return this.training && this.p > 0;
  }
  /** x [B, ...]: one draw an example, broadcast over the rest. */
  forward(x: Tensor): Tensor {
    if (!this.active) return x;
    const perExample = [x.shape[0]!, ...x.shape.slice(1).map(() => 1)];
    return mul(x, dropout(Tensor.ones(perExample), this.p, this.rng));
  }
}

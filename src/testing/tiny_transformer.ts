// A small Llama-style decoder built only from giftjs ops and layers: token embedding, then per
// block RMSNorm -> grouped-query causal attention with rotary embeddings -> residual, RMSNorm ->
// SwiGLU MLP -> residual, then a final norm and an untied LM head. It exists to exercise the
// whole engine end to end (gradients, memory) in tests and benchmarks; the real model classes
// that load checkpoints live in src/models.
import { Embedding, Linear, RMSNorm } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { scaledDotProductAttention } from '../ops/attention.js';
import { crossEntropy } from '../ops/cross_entropy.js';
import { shiftLabels } from '../models/causal_lm.js';
import { add } from '../ops/elementwise.js';
import { swiglu } from '../ops/activations.js';
import { reshape, transpose } from '../ops/shape_ops.js';
import { rope } from '../ops/rope.js';
import type { Random } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

export interface TinyTransformerConfig {
  vocab: number;
  dim: number;
  heads: number;
  kvHeads: number;
  hidden: number;
  layers: number;
}

class Block extends Module {
  readonly attnNorm: RMSNorm;
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly mlpNorm: RMSNorm;
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;

  constructor(private readonly c: TinyTransformerConfig, rng: Random) {
    super();
    const headDim = c.dim / c.heads;
    this.attnNorm = this.child('input_layernorm', new RMSNorm(c.dim));
    this.q = this.child('self_attn.q_proj', new Linear(c.dim, c.heads * headDim, rng, false));
    this.k = this.child('self_attn.k_proj', new Linear(c.dim, c.kvHeads * headDim, rng, false));
    this.v = this.child('self_attn.v_proj', new Linear(c.dim, c.kvHeads * headDim, rng, false));
    this.o = this.child('self_attn.o_proj', new Linear(c.heads * headDim, c.dim, rng, false));
    this.mlpNorm = this.child('post_attention_layernorm', new RMSNorm(c.dim));
    this.gate = this.child('mlp.gate_proj', new Linear(c.dim, c.hidden, rng, false));
    this.up = this.child('mlp.up_proj', new Linear(c.dim, c.hidden, rng, false));
    this.down = this.child('mlp.down_proj', new Linear(c.hidden, c.dim, rng, false));
  }

  forward(x: Tensor, batch: number, seq: number): Tensor {
    const { heads, kvHeads, dim } = this.c;
    const headDim = dim / heads;
    const h = this.attnNorm.forward(x);
    const split = (t: Tensor, n: number) => transpose(reshape(t, [batch, seq, n, headDim]), 1, 2);
    const q = rope(split(this.q.forward(h), heads));
    const k = rope(split(this.k.forward(h), kvHeads));
    const v = split(this.v.forward(h), kvHeads);
    const attn = scaledDotProductAttention(q, k, v, { causal: true });
    const merged = reshape(transpose(attn, 1, 2), [batch, seq, dim]);
    const x1 = add(x, this.o.forward(merged));
    const m = this.mlpNorm.forward(x1);
    return add(x1, this.down.forward(swiglu(this.gate.forward(m), this.up.forward(m))));
  }
}

export class TinyTransformer extends Module {
  readonly embed: Embedding;
  readonly blocks: Block[];
  readonly norm: RMSNorm;
  readonly head: Linear;

  constructor(readonly config: TinyTransformerConfig, rng: Random) {
    super();
    this.embed = this.child('model.embed_tokens', new Embedding(config.vocab, config.dim, rng));
    this.blocks = Array.from({ length: config.layers }, (_, i) => this.child(`model.layers.${i}`, new Block(config, rng)));
    this.norm = this.child('model.norm', new RMSNorm(config.dim));
    this.head = this.child('lm_head', new Linear(config.dim, config.vocab, rng, false));
  }

  /** Logits [batch, seq, vocab] for token ids [batch * seq]. */
  forward(ids: Int32Array, batch: number, seq: number): Tensor {
    let x = this.embed.forward(ids, [batch, seq]);
    for (const b of this.blocks) x = b.forward(x, batch, seq);
    return this.head.forward(this.norm.forward(x));
  }

  /** Mean next-token cross-entropy: position t predicts ids[t + 1] (the last position is ignored). */
  loss(ids: Int32Array, batch: number, seq: number): Tensor {
    return crossEntropy(this.forward(ids, batch, seq), shiftLabels(ids, batch, seq));
  }
}

// GIFT's cluster maps (the paper's "Generative Interpretable Fine-Tuning" view). GIFT's first map
// applied to a layer's pretrained weight, W @ phi^T [out, r], gives r prototype vectors in the
// layer's output space; dotting them with the layer's outputs at each token (image patch or word)
// gives r response maps, which pick out objects and their parts. Computed before the adapter
// (the pretrained model's outputs) and after it (the fine-tuned one's).
import { Linear, type LinearAdapter } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { matmul } from '../ops/matmul.js';
import { GiftLinearAdapter } from '../peft/gift/layer.js';
import { noGrad } from '../tensor/autograd.js';
import { Tensor } from '../tensor/tensor.js';

export interface GiftLayer {
  path: string;
  module: Linear;
  adapter: GiftLinearAdapter;
}

/** Every Linear a GIFT adapter is attached to, in module order. */
export function giftLayers(model: Module): GiftLayer[] {
  return model
    .namedModules()
    .filter(([, m]) => m instanceof Linear && m.adapter instanceof GiftLinearAdapter)
    .map(([path, m]) => ({ path, module: m as Linear, adapter: (m as Linear).adapter as GiftLinearAdapter }));
}

/** Records what a Linear outputs during one forward pass, computing as it did (with or without its adapter). */
class Recorder implements LinearAdapter {
  output: Tensor | null = null;
  constructor(private readonly inner: LinearAdapter | null) {}
  forward(x: Tensor, base: Linear): Tensor {
    const y = this.inner ? this.inner.forward(x, base) : base.baseForward(x);
    this.output = y.clone().keep();
    return y;
  }
}

export interface ClusterMaps {
  /** [tokens, r] responses of the pretrained model (adapter off) and of the fine-tuned one. */
  before: Float32Array;
  after: Float32Array;
  tokens: number;
  rank: number;
}

/**
 * Runs `forward` twice -- adapter off, then on -- and returns each token's response to each of the
 * layer's r prototypes (the columns of W @ phi^T). `forward` must run the model on one input.
 */
export function clusterMaps(layer: GiftLayer, forward: () => void): ClusterMaps {
  return noGrad(() => {
    const prototypes = matmul(layer.module.weight.toFloat32(), layer.adapter.pair.phi, { transposeB: true }); // [out, r]
    const run = (inner: LinearAdapter | null): Tensor => {
      const rec = new Recorder(inner);
      const saved = layer.module.adapter;
      layer.module.adapter = rec;
      try {
        forward();
      } finally {
        layer.module.adapter = saved;
      }
      const y = rec.output!;
      const responses = matmul(y.view([y.size / y.shape[y.rank - 1]!, y.shape[y.rank - 1]!]), prototypes); // [tokens, r]
      y.dispose();
      return responses;
    };
    const before = run(null);
    const after = run(layer.adapter);
    const r = prototypes.shape[1]!;
    return { before: Float32Array.from(before.read()), after: Float32Array.from(after.read()), tokens: before.shape[0]!, rank: r };
  });
}

/** For each prototype, the k tokens responding most (text models). */
export function topTokens(responses: Float32Array, tokens: string[], rank: number, k = 5): { prototype: number; tokens: { token: string; response: number }[] }[] {
  return Array.from({ length: rank }, (_, p) => ({
    prototype: p,
    tokens: tokens
      .map((token, t) => ({ token, response: responses[t * rank + p]! }))
      .sort((a, b) => b.response - a.response)
      .slice(0, k),
  }));
}

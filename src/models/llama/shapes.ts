// The shapes of a Llama-family model computed from its config alone: enough to count parameters
// (base, GIFT, LoRA) for models far too large to build here, such as Llama-3-8B.
import type { LlamaConfig } from './config.js';

export interface LinearShape {
  /** Module path, e.g. "model.layers.0.self_attn.q_proj". */
  path: string;
  inFeatures: number;
  outFeatures: number;
  bias: boolean;
}

export function llamaLinearShapes(c: LlamaConfig): LinearShape[] {
  const out: LinearShape[] = [];
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}.`;
    out.push(
      { path: `${p}self_attn.q_proj`, inFeatures: c.hiddenSize, outFeatures: q, bias: c.qkvBias },
      { path: `${p}self_attn.k_proj`, inFeatures: c.hiddenSize, outFeatures: kv, bias: c.qkvBias },
      { path: `${p}self_attn.v_proj`, inFeatures: c.hiddenSize, outFeatures: kv, bias: c.qkvBias },
      { path: `${p}self_attn.o_proj`, inFeatures: q, outFeatures: c.hiddenSize, bias: c.outputBias },
      { path: `${p}mlp.gate_proj`, inFeatures: c.hiddenSize, outFeatures: c.intermediateSize, bias: c.mlpBias },
      { path: `${p}mlp.up_proj`, inFeatures: c.hiddenSize, outFeatures: c.intermediateSize, bias: c.mlpBias },
      { path: `${p}mlp.down_proj`, inFeatures: c.intermediateSize, outFeatures: c.hiddenSize, bias: c.mlpBias },
    );
  }
  if (!c.tieWordEmbeddings) out.push({ path: 'lm_head', inFeatures: c.hiddenSize, outFeatures: c.vocabSize, bias: false });
  return out;
}

/** Every parameter of the model: linear layers, embedding, norms. */
export function llamaParameterCount(c: LlamaConfig): number {
  const linears = llamaLinearShapes(c).reduce((n, l) => n + l.inFeatures * l.outFeatures + (l.bias ? l.outFeatures : 0), 0);
  const norms = c.hiddenSize * (2 * c.numLayers + 1);
  return linears + norms + c.vocabSize * c.hiddenSize;
}

// The ForCausalLM class of a decoder-only family, as transformers lays it out: `model` (embed_tokens,
// layers, norm) and an lm_head or a head tied to the embedding. What every family does the same way
// lives here once (loading a folder strictly, the layer loop with checkpointing and the KV cache, the
// logits and the loss that never holds them whole); a family's file gives its module tree and what
// sets its forward apart: how the embeddings are scaled, what its layers read beside the hidden
// states, a cap on the logits.
import { loadFromCheckpoint, readJsonFile, type CheckpointReader } from '../io/hf_folder.js';
import type { GgufModel, GgufOutType } from '../io/gguf.js';
import { Embedding, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { crossEntropy } from '../ops/cross_entropy.js';
import { linearCrossEntropy } from '../ops/linear_cross_entropy.js';
import { linear } from '../ops/matmul.js';
import type { Random } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { join } from 'node:path';
import { loadStateDict } from './load_state_dict.js';
import { generationEndTokens } from './generation_config.js';
import {
  decoderLayer, keptPositions, KVCache, matrixLoadOptions, stepInputs,
  type CausalLM, type CausalLMConfig, type CausalLMForwardOptions, type CausalLMLossOptions, type PackedLayout, type StepInputs, type WeightLoadOptions,
} from './causal_lm.js';

/**
 * What a layer reads beside the hidden states in a family whose RoPE does not change from one forward to
 * the next (Gemma's, Phi's): the shape, where the positions start, the padding or packing, the KV cache.
 */
export interface PositionalStepContext {
  batch: number;
  seq: number;
  positionOffset: number;
  keyMask: Float32Array | null;
  cache: KVCache | null;
  /** Packed sequences: keyMask holds segment ids, and each token's position in its segment. */
  packed: PackedLayout | null;
}

/** That context from a forward's checked inputs (DecoderOnlyLM.layerContext of such a family). */
export function positionalStepContext({ cache, past, keyMask, packed }: StepInputs, batch: number, seq: number): PositionalStepContext {
  return { batch, seq, positionOffset: past, keyMask, cache, packed };
}

/** Checkpoint tensors of RoPE's buffers, which carry no parameters (some exporters write them). */
export const ROTARY_BUFFERS = /(^|\.)rotary_emb\.[a-z_]*inv_freq$/;

/** A decoder layer of a family: the hidden states and what its forward reads beside them (Context). */
export interface DecoderBlock<Context> extends Module {
  forward(x: Tensor, ctx: Context): Tensor;
}

/** transformers' `model` of a ForCausalLM: the token embedding, the decoder layers, the final norm. */
export interface DecoderStack<Context> extends Module {
  readonly embed_tokens: Embedding;
  readonly layers: readonly DecoderBlock<Context>[];
  readonly norm: Module & { forward(x: Tensor): Tensor };
}

export abstract class DecoderOnlyLM<Config extends CausalLMConfig, Stack extends DecoderStack<Context>, Context> extends Module implements CausalLM {
  readonly model: Stack;
  /** null when the output projection is tied to the token embedding. */
  readonly lm_head: Linear | null;
  /** Recompute each decoder layer in backward instead of keeping its activations. */
  gradientCheckpointing = false;
  streamedLayers = 0;
  /** Where the weights came from, and each tensor's stored dtype (an export writes them back so). */
  sourceDir: string | null = null;
  readonly sourceDtypes = new Map<string, string>();

  /**
   * `model` is the family's stack, built from the same rng before the head (the order random weights
   * are drawn in); `ignoredTensors` names checkpoint tensors that carry no parameter (buffers some
   * exporters write); `headBias`: an untied head with a bias (Phi's).
   */
  constructor(readonly config: Config, model: Stack, rng: Random | null, private readonly ignoredTensors: RegExp, headBias = false) {
    super();
    this.model = this.child('model', model);
    this.lm_head = config.tieWordEmbeddings ? null : this.child('lm_head', new Linear(config.hiddenSize, config.vocabSize, rng, headBias));
  }

  /** What each layer of a forward reads beside the hidden states, from the inputs stepInputs checked. */
  protected abstract layerContext(inputs: StepInputs, batch: number, seq: number): Context;

  /** The token embeddings [batch, seq, hidden] the first layer reads (a family may scale them). */
  protected embed(ids: Int32Array | readonly number[], batch: number, seq: number): Tensor {
    return this.model.embed_tokens.forward(ids, [batch, seq]);
  }

  /** The logits as the family gives them out (Gemma 2 caps them); these are the output projection's. */
  protected finalLogits(logits: Tensor): Tensor {
    return logits;
  }

  /** True where finalLogits changes the projection's logits, so the loss must see them whole. */
  protected get logitsChanged(): boolean {
    return false;
  }

  abstract gguf(outtype: GgufOutType): GgufModel;

  /** Fills every parameter from the checkpoint (strictly: see loadStateDict). */
  loadWeights(reader: CheckpointReader, options: WeightLoadOptions = {}): void {
    const tied = this.config.tieWordEmbeddings;
    const { dtypes } = loadStateDict(this, reader, {
      what: this.config.architecture,
      ignore: (n) => this.ignoredTensors.test(n) || (tied && n === 'lm_head.weight'),
      ...matrixLoadOptions(options),
    });
    for (const [name, dtype] of dtypes) this.sourceDtypes.set(name, dtype);
  }

  inputEmbeddings(): Embedding {
    return this.model.embed_tokens;
  }

  /** The weight of the output projection (the embedding when tied). */
  get outputWeight(): Tensor {
    return this.lm_head?.weight ?? this.model.embed_tokens.weight;
  }

  /** Final hidden states [batch, seq, hidden] for token ids [batch * seq]. */
  hiddenStates(ids: Int32Array | readonly number[], batch: number, seq: number, options: CausalLMForwardOptions = {}): Tensor {
    const inputs = stepInputs(this.config, ids, batch, seq, options);
    const ctx = this.layerContext(inputs, batch, seq);
    let x = this.embed(ids, batch, seq);
    for (const [i, layer] of this.model.layers.entries()) {
      x = decoderLayer(this, layer, i, x, (h) => layer.forward(h, ctx), inputs.cache !== null);
    }
    if (inputs.cache) inputs.cache.length += seq;
    return this.model.norm.forward(x);
  }

  /** Logits [batch, seq, vocab]. */
  forward(ids: Int32Array | readonly number[], batch: number, seq: number, options: CausalLMForwardOptions = {}): Tensor {
    return this.logitsOf(keptPositions(this.hiddenStates(ids, batch, seq, options), seq, options.logitsToKeep));
  }

  /**
   * Cross-entropy of the logits against `targets` (one id per position, [batch * seq]; ignoreIndex
   * skips a position), summed or averaged. With a plain output projection (no adapter, no bias) whose
   * logits the family gives out as they are, the logits are never held whole: linearCrossEntropy takes
   * them a chunk of rows at a time, the same GEMMs and loss kernels as crossEntropy(forward()).
   * Otherwise they are computed (an adapted lm_head runs its own forward), changed and scored.
   */
  loss(ids: Int32Array | readonly number[], batch: number, seq: number, targets: Int32Array, options: CausalLMLossOptions = {}): Tensor {
    const h = this.hiddenStates(ids, batch, seq, { segments: options.segments });
    const plainHead = !this.lm_head || (!this.lm_head.adapter && !this.lm_head.bias);
    if (plainHead && !this.logitsChanged) return linearCrossEntropy(h, this.outputWeight, targets, options);
    return crossEntropy(this.logitsOf(h), targets, { reduction: options.reduction, ignoreIndex: options.ignoreIndex });
  }

  newCache(plannedLength = 0): KVCache {
    return new KVCache(this.config.numLayers, plannedLength);
  }

  private logitsOf(h: Tensor): Tensor {
    return this.finalLogits(this.lm_head ? this.lm_head.forward(h) : linear(h, this.outputWeight));
  }
}

/** Loads a family's Hugging Face folder: its config.json read by the family's parser, then the safetensors weights (sharded or not). */
export function loadDecoderFolder<M extends DecoderOnlyLM<CausalLMConfig, DecoderStack<unknown>, unknown>, C extends CausalLMConfig>(
  dir: string, parseConfig: (raw: Record<string, unknown>, path: string) => C, build: (config: C) => M, options: WeightLoadOptions,
): M {
  const path = join(dir, 'config.json');
  const parsed = parseConfig(readJsonFile(path), path);
  const config = { ...parsed, eosTokenIds: generationEndTokens(dir, parsed.eosTokenIds) };
  const { model } = loadFromCheckpoint(dir, () => build(config), (m, reader) => m.loadWeights(reader, options));
  model.sourceDir = dir;
  return model;
}

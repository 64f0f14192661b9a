// The causal-LM contract: what generate, perplexity, the trainer, export, merge, inspect and the CLI
// ask of a language model, whatever its family. A family implements it in its own folder
// (models/llama/: Llama, Mistral, Qwen2, Qwen3; models/gemma/: Gemma 3, Gemma 2, Gemma; models/phi/: Phi-2), through the shared
// ForCausalLM of decoder_lm.ts, and registers it once (models/registry.ts); code
// outside models/ sees only this. The KV cache is shared by every family, as mlx-lm shares one.
import type { Module } from '../nn/module.js';
import { randomSourcesOf, type Embedding } from '../nn/layers.js';
import type { LinearCrossEntropyOptions } from '../ops/linear_cross_entropy.js';
import { Tensor } from '../tensor/tensor.js';
import { slice } from '../ops/shape_ops.js';
import { shapeString } from '../tensor/shape.js';
import { getBackend } from '../backend/index.js';
import { checkpoint } from '../tensor/checkpoint.js';
import { releasingUnread } from '../tensor/memory.js';
import { releaseMappedPages } from '../io/file_map.js';
import type { StateDictOptions } from './load_state_dict.js';
import type { GgufModel, GgufOutType } from '../io/gguf.js';
import type { QuantFormat } from '../formats/quantized.js';
import { GiftjsError } from '../errors.js';

/** The config fields callers read (a family's own config has these and more). */
export interface CausalLMConfig {
  /** config.json's architecture ("Qwen3ForCausalLM") and model_type. */
  architecture: string;
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  /**
   * Where a KV cache made for a shorter text stops serving (LongRoPE: its keys were rotated with the
   * short factors): generation past it runs one forward over all the tokens again. Absent: never.
   */
  cacheRebuiltPast?: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  /** The tokens that end a generation: config.json's eos_token_id, and a folder's generation_config.json's. */
  eosTokenIds: number[];
  /** The stored dtype: transformers 5's `dtype`, or 4's `torch_dtype`. */
  torchDtype: string | null;
  /** The config.json object as read, so an export can write it back unchanged. */
  raw: Record<string, unknown>;
  /** Lines a family adds to `gift inspect` (RoPE, biases, norms: what sets it apart). */
  details(): string[];
  /**
   * What GIFT and LoRA target when no --targets is given: the paper's query and value projections,
   * or the layer that holds them (Phi-3's fused qkv_proj).
   */
  defaultTargets: string[];
}

/** How a checkpoint's weights are held once loaded. */
export interface WeightLoadOptions {
  /**
   * Keep a BF16 or F16 checkpoint's matrices in that dtype, as stored (half the memory of float32;
   * the GEMM widens them exactly, so float32 compute gives the same numbers). For commands that only read
   * the weights (train, eval, generate); merging changes them, and an adapter that trains one
   * widens it first.
   */
  keepStoredDtype?: boolean;
  /**
   * Keep a GGUF's quantized matrices as they are stored (Q8_0, Q4_0: the quantized GEMM reads them),
   * or rounded to float16 (other block types), instead of dequantized to float32. For commands that
   * train no matrix of the base and do not merge: a trained weight needs its float32 values.
   */
  keepStoredBlocks?: boolean;
  /**
   * Copy a GGUF's Q8_0/Q4_0 blocks apart into codes and scales instead of mapping them in place:
   * decoding's one-row products read the split layout faster (generate, serve), at the cost of
   * reading and copying the file at load.
   */
  copyStoredBlocks?: boolean;
  /**
   * Store every matrix as bfloat16, rounding float32 ones as each is read, as --bf16 stores frozen
   * weights: the float32 model never exists. Float16 ones stay float16 (rounding them would drop
   * mantissa bits; bf16 dot products round them as they are packed, to the same products). Only for runs that train no matrix of
   * the base (an adapter, biases): a trained weight must keep its float32 values.
   */
  matricesAsBf16?: boolean;
  /**
   * Quantize every matrix (the embedding, the projections, an untied head) as it is read, one at a
   * time (--quantize): the full-precision model never exists. Norms stay float32.
   */
  quantize?: QuantFormat;
}

export interface CausalLMForwardOptions {
  /** [batch, cached + seq] of 1 (attend) / 0 (padding); omitted: every key is real. */
  attentionMask?: ArrayLike<number> | null;
  /** Continue from (and extend) this cache: positions start at cache.length. */
  cache?: KVCache | null;
  /**
   * Packed sequences: [batch, seq] segment ids (0 = padding; 1, 2, ... the examples packed into a row,
   * each a contiguous run). Each token attends only within its segment and its position restarts at 0
   * there, so a packed row computes what its examples would alone. Not with a cache or attentionMask.
   */
  segments?: ArrayLike<number> | null;
  /**
   * Only the logits of the last N positions ([batch, N, vocab]), as transformers' logits_to_keep:
   * generation needs the last position's alone, and the output projection over a long prompt's every
   * position is a fifth of a Llama-3.2-1B prefill. Omitted or 0: every position.
   */
  logitsToKeep?: number;
}

/** The final hidden states [batch, seq, hidden] of the positions whose logits the forward keeps (options.logitsToKeep). */
export function keptPositions(h: Tensor, seq: number, logitsToKeep: number | undefined): Tensor {
  const keep = logitsToKeep ?? 0;
  if (!Number.isInteger(keep) || keep < 0) throw new GiftjsError(`logitsToKeep must be a whole number of positions (0: all), got ${keep}`);
  return keep === 0 || keep >= seq ? h : slice(h, 1, seq - keep, seq);
}

/** The loss's options: the cross-entropy's, and packed segments as the forward takes them. */
export interface CausalLMLossOptions extends LinearCrossEntropyOptions {
  segments?: ArrayLike<number> | null;
}

/** What the attention layers read from packed segment ids: the ids as a key mask, each token's position in its segment. */
export interface PackedLayout {
  keyMask: Float32Array;
  positions: Int32Array;
}

/** What a forward step reads beside the ids, checked once for every family. */
export interface StepInputs {
  cache: KVCache | null;
  /** Positions already in the cache: the first new token's position. */
  past: number;
  /** [batch, past + seq]: 0 for padding (or packed segment ids); null when every key is real. */
  keyMask: Float32Array | null;
  packed: PackedLayout | null;
}

/** The ids' count, the context length, and the attention mask or packed segments, as the forward options give them. */
export function stepInputs(config: CausalLMConfig, ids: ArrayLike<number>, batch: number, seq: number, options: CausalLMForwardOptions): StepInputs {
  if (ids.length !== batch * seq) throw new GiftjsError(`${config.architecture}: ${ids.length} ids for batch ${batch} x seq ${seq}`);
  const cache = options.cache ?? null;
  const past = cache?.length ?? 0;
  if (past + seq > config.maxPositionEmbeddings) {
    throw new GiftjsError(`${past + seq} positions exceed this model's context (max_position_embeddings ${config.maxPositionEmbeddings}): shorten the text or the generation`);
  }
  if (options.segments) {
    if (cache || options.attentionMask) throw new GiftjsError(`${config.architecture}: packed segments go without a KV cache or an attention mask`);
    const packed = packedLayout(options.segments, batch, seq);
    return { cache, past, keyMask: packed.keyMask, packed };
  }
  const m = options.attentionMask;
  if (m && m.length !== batch * (past + seq)) throw new GiftjsError(`attentionMask has ${m.length} values, expected batch ${batch} x ${past + seq} positions`);
  return { cache, past, keyMask: m ? Float32Array.from(m) : null, packed: null };
}

/**
 * The loader's options for how a causal LM holds its matrices (linear and embedding weights;
 * norms always read float32): kept as stored (bf16, f16), rounded to bf16, or quantized as read.
 */
export function matrixLoadOptions(options: WeightLoadOptions): Pick<StateDictOptions, 'keepStoredDtype' | 'keepStoredBlocks' | 'copyStoredBlocks' | 'roundToBf16' | 'quantize'> {
  const matrix = (_name: string, p: Tensor) => p.rank === 2;
  return {
    ...(options.keepStoredDtype || options.matricesAsBf16 ? { keepStoredDtype: matrix } : {}),
    ...(options.keepStoredBlocks ? { keepStoredBlocks: matrix } : {}),
    ...(options.copyStoredBlocks ? { copyStoredBlocks: true } : {}),
    ...(options.matricesAsBf16 ? { roundToBf16: matrix } : {}),
    ...(options.quantize ? { quantize: (_name: string, p: Tensor) => (p.rank === 2 ? options.quantize! : null) } : {}),
  };
}

/** Checks segment ids ([batch, seq]: contiguous runs, 0 for padding) and derives the packed layout. */
export function packedLayout(segments: ArrayLike<number>, batch: number, seq: number): PackedLayout {
  if (segments.length !== batch * seq) throw new GiftjsError(`segments has ${segments.length} values, expected batch ${batch} x seq ${seq}`);
  const keyMask = new Float32Array(batch * seq);
  const positions = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    const seen = new Set<number>();
    let start = 0;
    for (let t = 0; t < seq; t++) {
      const i = b * seq + t;
      const id = segments[i]!;
      if (!Number.isInteger(id) || id < 0) throw new GiftjsError(`segments[${i}] is ${id}: segment ids are whole numbers, 0 for padding`);
      const prev = t > 0 ? segments[i - 1]! : -1;
      if (id !== prev) {
        if (id !== 0 && seen.has(id)) throw new GiftjsError(`segment ${id} of row ${b} is not one contiguous run`);
        seen.add(id);
        start = t;
      }
      keyMask[i] = id;
      positions[i] = t - start;
    }
  }
  return { keyMask, positions };
}

export interface CausalLM extends Module {
  readonly config: CausalLMConfig;
  /** Recompute each decoder layer in backward instead of keeping its activations. */
  gradientCheckpointing: boolean;
  /**
   * With gradient checkpointing: how many decoder layers, counted from the first, release the
   * resident pages of their weights mapped from the checkpoint after each use (their forward, their
   * recomputed backward), so that a model larger than the memory a step may keep resident is paged
   * through, those layers one at a time (the page cache keeps the file; the next use maps it again).
   * 0 by default: each release costs the next use its page faults (a step of the Llama-3.2-1B shape
   * ran 21% slower here with every layer streamed, at 34% of the resident memory).
   */
  streamedLayers: number;
  /** Where the weights came from, and each tensor's stored dtype (an export writes them back so). */
  sourceDir: string | null;
  readonly sourceDtypes: Map<string, string>;
  /** Logits [batch, seq, vocab] for token ids [batch * seq]. */
  forward(ids: Int32Array | readonly number[], batch: number, seq: number, options?: CausalLMForwardOptions): Tensor;
  /** Cross-entropy against one target id per position (ignoreIndex skips one), without holding all logits where it can. */
  loss(ids: Int32Array | readonly number[], batch: number, seq: number, targets: Int32Array, options?: CausalLMLossOptions): Tensor;
  /** An empty KV cache; plannedLength: the positions it will hold, if known (its storage is allocated for them at once). */
  newCache(plannedLength?: number): KVCache;
  /** The token embedding (transformers' get_input_embeddings()), where NEFTune's noise is set. */
  inputEmbeddings(): Embedding;
  /** llama.cpp's form of the model (GGUF), where the family has one. */
  gguf?(outtype: GgufOutType): GgufModel;
}

/**
 * One decoder layer of a forward: its activations that no backward reads given back when it returns
 * (releasingUnread; a KV cache keeps copies in its own storage), checkpointed when the model says so
 * (not while filling a KV cache), releasing the layer's mapped weights after each use when it is one
 * of the model's streamed layers (index: its place in the model, from 0).
 */
export function decoderLayer(model: CausalLM, layer: Module, index: number, x: Tensor, run: (h: Tensor) => Tensor, caching: boolean): Tensor {
  const scoped = (h: Tensor) => releasingUnread(() => run(h));
  if (!model.gradientCheckpointing || caching) return scoped(x);
  return checkpoint(scoped, [x], index < model.streamedLayers ? () => releaseMappedWeights(layer) : undefined, randomSourcesOf(layer));
}

/**
 * Releases the resident pages of a module's frozen weights that are mapped from their checkpoint
 * as stored (bfloat16, float16); returns how many were. Weights read, quantized or trained are not
 * mappings and stay.
 */
export function releaseMappedWeights(module: Module): number {
  let released = 0;
  for (const p of module.parameters()) if (releaseMappedWeight(p)) released++;
  return released;
}

/** Releases one weight's resident pages when it is mapped from its checkpoint; false when it is not a mapping. */
export function releaseMappedWeight(p: Tensor): boolean {
  const view = p.storedMatrix?.codes ?? (p.dtype === 'bfloat16' ? p.bf16Bits : null);
  return view !== null && releaseMappedPages(view);
}

/** What a layer attends to after appending to the cache: k and v as stored, and how many of their rows per head are keys. */
export interface CachedKeys {
  /** [B, Hkv, capacity, D]: the first keyLength rows of each head are keys (scaledDotProductAttention's keyLength). */
  k: Tensor;
  v: Tensor;
  keyLength: number;
}

/**
 * Keys and values of earlier positions, per layer, for generation. Each layer's are held in
 * storage of a capacity ([B, Hkv, capacity, D]) that a step's keys are written into, rather than
 * concatenated into a new tensor per token (an allocation and a copy of everything cached, per
 * layer, per token): the capacity is the planned length (generate: prompt + new tokens), doubled
 * when a forward goes past it.
 */
export class KVCache {
  private readonly keys: (Tensor | null)[];
  private readonly values: (Tensor | null)[];
  /** Positions already cached. */
  length = 0;
  /**
   * The length this cache may grow to and stay right: a family whose RoPE depends on the length
   * (LongRoPE's short and long factors) lowers it, and generate rebuilds the cache from all the tokens
   * past it, as transformers' Phi-3 does; a forward past it is refused.
   */
  reusableUpTo = Infinity;
  /**
   * Whether a family rotated these keys by the length of the text they were made for (LongRoPE's short
   * or long factors), so that they are right for that text only: a prompt cache does not reuse them
   * for another.
   */
  lengthDependentKeys = false;
  /** @param plannedLength positions to hold storage for from the start (0: the first forward's). */
  constructor(layers: number, private readonly plannedLength = 0) {
    if (!Number.isSafeInteger(plannedLength) || plannedLength < 0) throw new GiftjsError(`KV cache: plannedLength must be a whole number of positions, got ${plannedLength}`);
    this.keys = new Array(layers).fill(null);
    this.values = new Array(layers).fill(null);
  }
  /** Rows per head each layer's storage holds now. */
  get capacity(): number {
    return this.keys[0]?.shape[2] ?? 0;
  }
  /** Writes this step's k, v [B, Hkv, T, D] for a layer after the positions cached and returns everything so far. */
  append(layer: number, k: Tensor, v: Tensor): CachedKeys {
    const [B, Hkv, T, D] = k.shape as [number, number, number, number];
    const keyLength = this.length + T;
    const k0 = this.keys[layer] ?? null;
    if (k0 && (k0.shape[0] !== B || k0.shape[1] !== Hkv || k0.shape[3] !== D)) {
      throw new GiftjsError(`KV cache: layer ${layer} holds keys [${k0.shape[0]}, ${k0.shape[1]}, *, ${k0.shape[3]}]; this step's are ${shapeString(k.shape)}`);
    }
    if (!k0 || k0.shape[2]! < keyLength) {
      const capacity = Math.max(keyLength, this.plannedLength, 2 * (k0?.shape[2] ?? 0));
      this.keys[layer] = this.grown(k0, [B, Hkv, capacity, D]);
      this.values[layer] = this.grown(this.values[layer] ?? null, [B, Hkv, capacity, D]);
    }
    const [keys, values] = [this.keys[layer]!, this.values[layer]!];
    const rows = keys.shape[2]!;
    // Head by head: T rows of D from the step's tensor to rows [length, length + T) of the storage.
    getBackend().copyBlocks(k.buffer, 0, T * D, keys.buffer, this.length * D, rows * D, B * Hkv, T * D);
    getBackend().copyBlocks(v.buffer, 0, T * D, values.buffer, this.length * D, rows * D, B * Hkv, T * D);
    return { k: keys, v: values, keyLength };
  }
  /** Storage of `shape` holding the positions cached in `old` (which is released). */
  private grown(old: Tensor | null, shape: [number, number, number, number]): Tensor {
    const fresh = Tensor.empty(shape).keep();
    if (old) {
      const [B, Hkv, rows, D] = old.shape as [number, number, number, number];
      getBackend().copyBlocks(old.buffer, 0, rows * D, fresh.buffer, 0, shape[2] * D, B * Hkv, this.length * D);
      old.dispose();
    }
    return fresh;
  }
  /** Empty again, its storage kept for the next text (whose forwards write over it). */
  reset(): void {
    this.length = 0;
    this.reusableUpTo = Infinity;
    this.lengthDependentKeys = false;
  }
  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t?.dispose();
    this.keys.fill(null);
    this.values.fill(null);
    this.reset();
  }
}

/**
 * Next-token targets as Hugging Face computes its causal-LM loss: position t is scored against
 * labels[t + 1]; the last position of each row, and labels of -100, are ignored.
 */
export function shiftLabels(labels: ArrayLike<number>, batch: number, seq: number, ignoreIndex = -100): Int32Array {
  const t = new Int32Array(batch * seq).fill(ignoreIndex);
  for (let b = 0; b < batch; b++) for (let i = 0; i + 1 < seq; i++) t[b * seq + i] = labels[b * seq + i + 1]!;
  return t;
}

// The configuration of Universal Sentence Encoder Lite as giftjs writes it into config.json when it
// converts the TensorFlow.js graph (see convert.ts): a 2-layer Transformer encoder whose first
// layer is narrower (256) than the second (512), sinusoidal timing signals, mean pooling and a tanh
// layer.
import { checkSizeLimit } from '../config_limits.js';
import { readJsonFile } from '../../io/hf_folder.js';
import { join } from 'node:path';
import { GiftjsError } from '../../errors.js';

export const USE_LITE_ARCHITECTURE = 'UniversalSentenceEncoderLite';

export interface UseLiteConfig {
  vocabSize: number;
  /** Width of the token embeddings and of the first layer's input. */
  embeddingSize: number;
  /** Width every layer outputs (the first projects its residual up to it). */
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  /** Tokens past this many are dropped, as the graph's ClipToMaxLength does. */
  maxPositions: number;
  layerNormEps: number;
  minTimescale: number;
  maxTimescale: number;
}

export const USE_LITE_DEFAULTS: UseLiteConfig = {
  vocabSize: 8002, embeddingSize: 256, hiddenSize: 512, numLayers: 2, numHeads: 4, intermediateSize: 1536,
  maxPositions: 128, layerNormEps: 1e-6, minTimescale: 1, maxTimescale: 1e4,
};

/** Input width of layer i: the embeddings for the first, the hidden size after. */
export function layerInputSize(c: UseLiteConfig, i: number): number {
  return i === 0 ? c.embeddingSize : c.hiddenSize;
}

export function useLiteConfigJson(c: UseLiteConfig): Record<string, unknown> {
  return {
    architectures: [USE_LITE_ARCHITECTURE], model_type: 'use_lite', vocab_size: c.vocabSize, embedding_size: c.embeddingSize,
    hidden_size: c.hiddenSize, num_hidden_layers: c.numLayers, num_attention_heads: c.numHeads, intermediate_size: c.intermediateSize,
    max_position_embeddings: c.maxPositions, layer_norm_eps: c.layerNormEps, min_timescale: c.minTimescale, max_timescale: c.maxTimescale,
    pad_token_id: 0,
  };
}

export function parseUseLiteConfig(raw: Record<string, unknown>, source: string): UseLiteConfig {
  const num = (key: string, fallback: number, integer = true): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
      throw new GiftjsError(`${source}: '${key}' must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(raw[key])}`);
    }
    checkSizeLimit(key, v, source);
    return v;
  };
  const d = USE_LITE_DEFAULTS;
  const c: UseLiteConfig = {
    vocabSize: num('vocab_size', d.vocabSize), embeddingSize: num('embedding_size', d.embeddingSize), hiddenSize: num('hidden_size', d.hiddenSize),
    numLayers: num('num_hidden_layers', d.numLayers), numHeads: num('num_attention_heads', d.numHeads), intermediateSize: num('intermediate_size', d.intermediateSize),
    maxPositions: num('max_position_embeddings', d.maxPositions), layerNormEps: num('layer_norm_eps', d.layerNormEps, false),
    minTimescale: num('min_timescale', d.minTimescale, false), maxTimescale: num('max_timescale', d.maxTimescale, false),
  };
  for (let i = 0; i < c.numLayers; i++) {
    if (layerInputSize(c, i) % c.numHeads !== 0) throw new GiftjsError(`${source}: layer ${i}'s width ${layerInputSize(c, i)} is not divisible by ${c.numHeads} heads`);
  }
  if (c.embeddingSize % 2 !== 0) throw new GiftjsError(`${source}: embedding_size must be even (half sine, half cosine timing signal)`);
  return c;
}

export function readUseLiteConfig(dir: string): UseLiteConfig {
  const path = join(dir, 'config.json');
  return parseUseLiteConfig(readJsonFile(path), path);
}

/**
 * The timing signal's inverse timescales, as tensor2tensor's get_timing_signal_1d makes them:
 * minTimescale * exp(-i * log(max / min) / (n - 1)) for i < n = half the embedding width.
 */
export function inverseTimescales(c: UseLiteConfig): Float64Array {
  const n = c.embeddingSize / 2;
  const increment = Math.log(c.maxTimescale / c.minTimescale) / Math.max(n - 1, 1);
  return Float64Array.from({ length: n }, (_, i) => c.minTimescale * Math.exp(-i * increment));
}

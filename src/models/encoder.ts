// What every encoder takes and gives (Universal Sentence Encoder Lite, BERT, RoBERTa), and the
// classifier form the sequence-classification task trains.
import type { Linear } from '../nn/layers.js';
import type { Random } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';

/** A batch of token ids [batch * seq], right-padded, with 1 for a real token and 0 for padding. */
export interface EncoderInput {
  ids: Int32Array;
  attentionMask: Float32Array;
  /** Segment ids (BERT's token types); models without them ignore it. */
  tokenTypeIds?: Int32Array;
  batch: number;
  seq: number;
}

export interface EncoderOutput {
  /** Last layer's states [batch, seq, hidden]. */
  lastHiddenState: Tensor;
  /** What a classification head reads [batch, hidden]. */
  pooled: Tensor;
}

/** A model with a classification head: logits [batch, labels]. */
export interface SequenceClassifier {
  readonly numLabels: number;
  /** True when the head was made fresh (the checkpoint had none of this size). */
  readonly newHead?: boolean;
  /** A sentence pair is two texts encoded alone, the head reading [u, v, (u-v)^2, u*v] (USE Lite); absent or false: one sequence. */
  readonly pairHead?: boolean;
  /** The most tokens one sequence may hold: the positions the model has embeddings or timing for. */
  readonly maxTokens: number;
  logits(input: EncoderInput): Tensor;
}

/** Initialises a new classification layer as transformers does: weights N(0, 0.02), bias 0. */
export function initNewHead(layer: Linear, rng: Random): void {
  // Written from the host (the values Tensor.randn(shape, rng, 0.02) would hold), so that no
  // backend has to give them back synchronously.
  layer.weight.writeHost((d) => {
    for (let i = 0; i < d.length; i++) d[i] = rng.normal() * 0.02;
  });
  layer.bias?.assign(new Float32Array(layer.bias.size));
}

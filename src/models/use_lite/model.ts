// Universal Sentence Encoder Lite rebuilt from giftjs modules, computing what the original
// TensorFlow.js graph computes (a test runs both on real sentences):
//
//   x = 2 * embed(ids) + timing(position)      (the graph adds the embeddings twice: once as the
//                                               timing layer's input, once as its residual)
//   per layer: h = LN(x); a = out(attention(q(h), k(h), v(h))) + (residual_projection(x) or x)
//              x = a + fc2(relu(fc1(LN(a))))
//   pooled = mean of x over the real tokens; pooler = tanh(dense(pooled)); embedding = pooler / |pooler|
//
// The graph's fused QKV kernel is split into query/key/value Linear layers (the same product,
// column blocks of one matrix), so PEFT targets read like BERT's: query, value, attention.output.
import { join } from 'node:path';
import { CheckpointReader, loadFromCheckpoint, readJsonFile } from '../../io/hf_folder.js';
import { LayerNorm, Linear, Embedding } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { relu, tanh } from '../../ops/activations.js';
import { scaledDotProductAttention } from '../../ops/attention.js';
import { add, mul, scale, sub } from '../../ops/elementwise.js';
import { rmsNorm } from '../../ops/norms.js';
import { sum } from '../../ops/reduce.js';
import { concat, reshape, transpose } from '../../ops/shape_ops.js';
import { noGrad } from '../../tensor/autograd.js';
import { Random } from '../../tensor/random.js';
import { Tensor } from '../../tensor/tensor.js';
import { initNewHead, type EncoderInput, type EncoderOutput, type SequenceClassifier } from '../encoder.js';
import { loadStateDict } from '../load_state_dict.js';
import { inverseTimescales, layerInputSize, parseUseLiteConfig, type UseLiteConfig } from './config.js';
import { GiftjsError } from '../../errors.js';


class UseLiteLayer extends Module {
  readonly attention_norm: LayerNorm;
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly output: Linear;
  /** Projects the residual up when the layer widens it (the graph's AdjustResidualInput); null otherwise. */
  readonly residual_projection: Linear | null;
  readonly ffn_norm: LayerNorm;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(private readonly c: UseLiteConfig, readonly inSize: number, rng: Random) {
    super();
    const H = c.hiddenSize;
    this.attention_norm = this.child('attention_norm', new LayerNorm(inSize, c.layerNormEps));
    this.query = this.child('attention.query', new Linear(inSize, inSize, rng));
    this.key = this.child('attention.key', new Linear(inSize, inSize, rng));
    this.value = this.child('attention.value', new Linear(inSize, inSize, rng));
    this.output = this.child('attention.output', new Linear(inSize, H, rng));
    this.residual_projection = inSize !== H ? this.child('residual_projection', new Linear(inSize, H, rng)) : null;
    this.ffn_norm = this.child('ffn_norm', new LayerNorm(H, c.layerNormEps));
    this.fc1 = this.child('ffn.fc1', new Linear(H, c.intermediateSize, rng));
    this.fc2 = this.child('ffn.fc2', new Linear(c.intermediateSize, H, rng));
  }

  forward(x: Tensor, input: EncoderInput): Tensor {
    const { batch, seq } = input;
    const nh = this.c.numHeads;
    const hd = this.inSize / nh;
    const h = this.attention_norm.forward(x);
    const heads = (t: Tensor) => transpose(reshape(t, [batch, seq, nh, hd]), 1, 2);
    const attn = scaledDotProductAttention(heads(this.query.forward(h)), heads(this.key.forward(h)), heads(this.value.forward(h)), {
      keyPaddingMask: input.attentionMask,
    });
    const merged = reshape(transpose(attn, 1, 2), [batch, seq, this.inSize]);
    const residual = this.residual_projection ? this.residual_projection.forward(x) : x;
    const a = add(this.output.forward(merged), residual);
    return add(a, this.fc2.forward(relu(this.fc1.forward(this.ffn_norm.forward(a)))));
  }
}

export class UseLiteModel extends Module {
  readonly word_embeddings: Embedding;
  readonly layers: UseLiteLayer[];
  readonly pooler: Linear;
  sourceDir: string | null = null;

  constructor(readonly config: UseLiteConfig, rng: Random = new Random(0)) {
    super();
    this.word_embeddings = this.child('embeddings.word_embeddings', new Embedding(config.vocabSize, config.embeddingSize, rng, 0.02));
    this.layers = Array.from({ length: config.numLayers }, (_, i) => this.child(`encoder.layer.${i}`, new UseLiteLayer(config, layerInputSize(config, i), rng)));
    this.pooler = this.child('pooler.dense', new Linear(config.hiddenSize, config.hiddenSize, rng));
  }

  get architecture(): string {
    return 'UniversalSentenceEncoderLite';
  }

  /** The sinusoidal timing signal [seq, embeddingSize], in float32 arithmetic as the graph computes it. */
  timingSignal(seq: number): Tensor {
    const inv = inverseTimescales(this.config);
    const n = inv.length;
    return Tensor.fromHost([seq, 2 * n], (d) => {
      for (let t = 0; t < seq; t++) {
        for (let i = 0; i < n; i++) {
          const angle = Math.fround(t * Math.fround(inv[i]!));
          d[t * 2 * n + i] = Math.sin(angle);
          d[t * 2 * n + n + i] = Math.cos(angle);
        }
      }
    });
  }

  forward(input: EncoderInput): EncoderOutput {
    const { ids, attentionMask, batch, seq } = input;
    if (ids.length !== batch * seq || attentionMask.length !== batch * seq) {
      throw new GiftjsError(`${this.architecture}: ${ids.length} ids and ${attentionMask.length} mask values for batch ${batch} x seq ${seq}`);
    }
    if (seq > this.config.maxPositions) throw new GiftjsError(`${this.architecture}: ${seq} tokens; the model reads at most ${this.config.maxPositions}`);
    const emb = this.word_embeddings.forward(ids, [batch, seq]);
    let x = add(scale(emb, 2), this.timingSignal(seq));
    for (const layer of this.layers) x = layer.forward(x, input);
    // Mean over the real tokens: weights mask / max(count, 1), as the graph divides.
    const weights = Tensor.fromHost([batch, seq, 1], (w) => {
      for (let b = 0; b < batch; b++) {
        let count = 0;
        for (let t = 0; t < seq; t++) count += attentionMask[b * seq + t]! > 0 ? 1 : 0;
        for (let t = 0; t < seq; t++) w[b * seq + t] = attentionMask[b * seq + t]! > 0 ? 1 / Math.max(count, 1) : 0;
      }
    });
    const mean = sum(mul(x, weights), 1);
    return { lastHiddenState: x, pooled: tanh(this.pooler.forward(mean)) };
  }

  /** Sentence embeddings [batch, hidden], unit length, as the original model outputs them. */
  embed(input: EncoderInput): Float32Array {
    return noGrad(() => {
      const pooled = this.forward(input).pooled;
      const H = this.config.hiddenSize;
      const out = Float32Array.from(pooled.read());
      for (let b = 0; b < input.batch; b++) {
        let ss = 0;
        for (let j = 0; j < H; j++) ss += out[b * H + j]! ** 2;
        const inv = 1 / Math.sqrt(Math.max(ss, 1e-12));
        for (let j = 0; j < H; j++) out[b * H + j]! *= inv;
      }
      return out;
    });
  }

  /**
   * Fills every parameter from a checkpoint; names and shapes must match, except that parameters
   * `optional` accepts are left as they are when missing or of another shape. Returns those left.
   */
  loadWeights(reader: CheckpointReader, optional: (name: string) => boolean = () => false): string[] {
    return loadStateDict(this, reader, { what: this.architecture, optional, ignore: optionalHeadTensor }).missing;
  }

  static fromPretrained(dir: string): UseLiteModel {
    const configPath = join(dir, 'config.json');
    const config = parseUseLiteConfig(readJsonFile(configPath), configPath);
    const { model } = loadFromCheckpoint(dir, () => new UseLiteModel(config), (m, reader) => m.loadWeights(reader));
    model.sourceDir = dir;
    return model;
  }
}

/** A classification head saved beside the encoder is not the encoder's; the bare model skips it. */
function optionalHeadTensor(name: string): boolean {
  return name.startsWith('classifier.');
}

/**
 * The encoder with a classification (or, with one label, regression) head. One text: the head reads
 * the pooled output. A sentence pair, with `pairHead`: the encoder is a bi-encoder, as USE is meant
 * to be used -- each text is encoded alone into its embedding, scaled to unit RMS (u = sqrt(H) times
 * the unit-length embedding, so that each feature is of order 1 and a head trained at the encoder's
 * learning rate can reach the targets), and the head reads [u, v, (u - v)^2, u * v] (Sentence-BERT's
 * features, squared instead of absolute differences; the sum of u * v is H times the cosine the
 * encoder was trained to make meaningful).
 */
export class UseLiteForSequenceClassification extends UseLiteModel implements SequenceClassifier {
  readonly classifier: Linear;
  /** True when the head was made fresh (the checkpoint had none of this size). */
  newHead = true;

  constructor(config: UseLiteConfig, readonly numLabels: number, rng: Random = new Random(0), readonly pairHead = false) {
    super(config, rng);
    const features = pairHead ? 4 * config.hiddenSize : config.hiddenSize;
    this.classifier = this.child('classifier', new Linear(features, numLabels, null));
    initNewHead(this.classifier, rng);
  }

  override headModules(): string[] {
    return ['classifier'];
  }

  get maxTokens(): number {
    return this.config.maxPositions;
  }

  /** [batch, numLabels] */
  logits(input: EncoderInput): Tensor {
    if (!this.pairHead) return this.classifier.forward(this.forward(input).pooled);
    const [a, b] = [0, 1].map((segment) => this.rmsEmbedding(segmentInput(input, segment)));
    const diff = sub(a!, b!);
    return this.classifier.forward(concat([a!, b!, mul(diff, diff), mul(a!, b!)], 1));
  }

  /** The pooled output scaled to unit RMS: sqrt(H) times the unit-length embedding (the graph's eps kept). */
  private rmsEmbedding(input: EncoderInput): Tensor {
    const H = this.config.hiddenSize;
    return rmsNorm(this.forward(input).pooled, Tensor.ones([H]), 1e-12 / H);
  }

  /** Loads the encoder; the head too when the folder has one of this shape, else a fresh seeded one. */
  static fromPretrainedWithHead(dir: string, numLabels: number, seed = 0, pairHead = false): UseLiteForSequenceClassification {
    const configPath = join(dir, 'config.json');
    const config = parseUseLiteConfig(readJsonFile(configPath), configPath);
    const { model, loaded } = loadFromCheckpoint(dir, () => new UseLiteForSequenceClassification(config, numLabels, new Random(seed), pairHead),
      (m, reader) => m.loadWeights(reader, (n) => n.startsWith('classifier.')).length > 0);
    model.newHead = loaded;
    model.sourceDir = dir;
    return model;
  }
}

/** The tokens of one segment (token type 0 or 1) of every row, right-padded, positions from 0. */
function segmentInput(input: EncoderInput, segment: number): EncoderInput {
  const { batch, seq, ids, attentionMask } = input;
  const types = input.tokenTypeIds;
  if (!types) throw new GiftjsError('UniversalSentenceEncoderLite pair head: the batch has no token types (one text per example?)');
  const rows = Array.from({ length: batch }, (_, b) => {
    const row: number[] = [];
    for (let t = 0; t < seq; t++) if (attentionMask[b * seq + t]! > 0 && types[b * seq + t] === segment) row.push(ids[b * seq + t]!);
    return row;
  });
  const len = Math.max(1, ...rows.map((r) => r.length));
  const out: EncoderInput = { ids: new Int32Array(batch * len), attentionMask: new Float32Array(batch * len), batch, seq: len };
  rows.forEach((r, b) => {
    out.ids.set(r, b * len);
    out.attentionMask.fill(1, b * len, b * len + r.length);
  });
  return out;
}

export type { EncoderInput, EncoderOutput };

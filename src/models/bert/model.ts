// BERT and RoBERTa encoders with Hugging Face's module tree and tensor names: learned absolute
// positions (RoBERTa's start after padding_idx), token types, post-norm layers (LayerNorm after
// each residual), GELU, key padding masks, and in training the config's dropouts where transformers
// applies them (after the embeddings, on the attention probabilities, after each sublayer's dense,
// in the head).
import { CheckpointReader, loadFromCheckpoint, withCheckpoint } from '../../io/hf_folder.js';
import { Dropout, Embedding, LayerNorm, Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
import { releasingUnread } from '../../tensor/memory.js';
import { gelu, tanh } from '../../ops/activations.js';
import { scaledDotProductAttention } from '../../ops/attention.js';
import { add } from '../../ops/elementwise.js';
import { reshape, slice, transpose } from '../../ops/shape_ops.js';
import { Random } from '../../tensor/random.js';
import { Tensor } from '../../tensor/tensor.js';
import { initNewHead, type EncoderInput, type EncoderOutput, type SequenceClassifier } from '../encoder.js';
import { loadStateDict } from '../load_state_dict.js';
import { readBertConfig, type BertConfig } from './config.js';
import { GiftjsError } from '../../errors.js';

class BertEmbeddings extends Module {
  readonly word_embeddings: Embedding;
  readonly position_embeddings: Embedding;
  readonly token_type_embeddings: Embedding;
  readonly LayerNorm: LayerNorm;
  readonly dropout: Dropout;
  constructor(private readonly c: BertConfig, rng: Random) {
    super();
    this.word_embeddings = this.child('word_embeddings', new Embedding(c.vocabSize, c.hiddenSize, rng, 0.02));
    this.position_embeddings = this.child('position_embeddings', new Embedding(c.maxPositions, c.hiddenSize, rng, 0.02));
    this.token_type_embeddings = this.child('token_type_embeddings', new Embedding(c.typeVocabSize, c.hiddenSize, rng, 0.02));
    this.LayerNorm = this.child('LayerNorm', new LayerNorm(c.hiddenSize, c.layerNormEps));
    this.dropout = this.child('dropout', new Dropout(c.hiddenDropout));
  }

  /** BERT: 0, 1, 2, ...; RoBERTa: padding_idx + 1, + 2, ... over real tokens and padding_idx on padding. */
  positionIds(input: EncoderInput): Int32Array {
    const { batch, seq, attentionMask } = input;
    const pos = new Int32Array(batch * seq);
    for (let b = 0; b < batch; b++) {
      let count = 0;
      for (let t = 0; t < seq; t++) {
        const real = attentionMask[b * seq + t]! > 0;
        if (real) count++;
        pos[b * seq + t] = this.c.roberta ? (real ? this.c.padTokenId + count : this.c.padTokenId) : t;
      }
    }
    const max = pos.reduce((m, p) => Math.max(m, p), 0);
    if (max >= this.c.maxPositions) throw new GiftjsError(`${this.c.architecture}: position ${max} is past max_position_embeddings ${this.c.maxPositions} (use a shorter --max-length)`);
    return pos;
  }

  forward(input: EncoderInput): Tensor {
    const shape = [input.batch, input.seq];
    // RoBERTa has one token type: its tokenizer's pair type ids never reach the model (transformers'
    // RobertaTokenizer does not return token_type_ids), so they are read as 0 here too.
    const types = input.tokenTypeIds && this.c.typeVocabSize > 1 ? input.tokenTypeIds : new Int32Array(input.batch * input.seq);
    const x = add(add(this.word_embeddings.forward(input.ids, shape), this.position_embeddings.forward(this.positionIds(input), shape)), this.token_type_embeddings.forward(types, shape));
    return this.dropout.forward(this.LayerNorm.forward(x));
  }
}

class BertLayer extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly attentionOutput: Linear;
  readonly attentionNorm: LayerNorm;
  readonly intermediate: Linear;
  readonly output: Linear;
  readonly outputNorm: LayerNorm;
  readonly attentionDropout: Dropout;
  readonly attentionOutputDropout: Dropout;
  readonly outputDropout: Dropout;
  constructor(private readonly c: BertConfig, rng: Random) {
    super();
    const H = c.hiddenSize;
    this.query = this.child('attention.self.query', new Linear(H, H, rng));
    this.key = this.child('attention.self.key', new Linear(H, H, rng));
    this.value = this.child('attention.self.value', new Linear(H, H, rng));
    this.attentionOutput = this.child('attention.output.dense', new Linear(H, H, rng));
    this.attentionNorm = this.child('attention.output.LayerNorm', new LayerNorm(H, c.layerNormEps));
    this.intermediate = this.child('intermediate.dense', new Linear(H, c.intermediateSize, rng));
    this.output = this.child('output.dense', new Linear(c.intermediateSize, H, rng));
    this.outputNorm = this.child('output.LayerNorm', new LayerNorm(H, c.layerNormEps));
    this.attentionDropout = this.child('attention.self.dropout', new Dropout(c.attentionDropout));
    this.attentionOutputDropout = this.child('attention.output.dropout', new Dropout(c.hiddenDropout));
    this.outputDropout = this.child('output.dropout', new Dropout(c.hiddenDropout));
  }
  forward(x: Tensor, input: EncoderInput): Tensor {
    const { batch, seq } = input;
    const { hiddenSize: H, numHeads: nh } = this.c;
    const heads = (t: Tensor) => transpose(reshape(t, [batch, seq, nh, H / nh]), 1, 2);
    const attn = scaledDotProductAttention(heads(this.query.forward(x)), heads(this.key.forward(x)), heads(this.value.forward(x)), {
      keyPaddingMask: input.attentionMask, ...(this.attentionDropout.active ? { dropout: { p: this.attentionDropout.p, rng: this.attentionDropout.rng } } : {}),
    });
    const merged = reshape(transpose(attn, 1, 2), [batch, seq, H]);
    const a = this.attentionNorm.forward(add(this.attentionOutputDropout.forward(this.attentionOutput.forward(merged)), x));
    const act = this.c.hiddenAct === 'gelu_new' ? 'tanh' : 'none';
    return this.outputNorm.forward(add(this.outputDropout.forward(this.output.forward(gelu(this.intermediate.forward(a), act))), a));
  }
}

/** BertModel / RobertaModel: embeddings, encoder.layer.N, and (when kept) pooler.dense. */
export class BertModel extends Module {
  readonly embeddings: BertEmbeddings;
  readonly layers: BertLayer[];
  readonly pooler: Linear | null;
  constructor(readonly config: BertConfig, rng: Random = new Random(0), withPooler = true) {
    super();
    this.embeddings = this.child('embeddings', new BertEmbeddings(config, rng));
    this.layers = Array.from({ length: config.numLayers }, (_, i) => this.child(`encoder.layer.${i}`, new BertLayer(config, rng)));
    this.pooler = withPooler ? this.child('pooler.dense', new Linear(config.hiddenSize, config.hiddenSize, rng)) : null;
  }
  forward(input: EncoderInput): EncoderOutput {
    if (input.ids.length !== input.batch * input.seq) throw new GiftjsError(`${this.config.architecture}: ${input.ids.length} ids for batch ${input.batch} x seq ${input.seq}`);
    let x = this.embeddings.forward(input);
    for (const layer of this.layers) x = releasingUnread(() => layer.forward(x, input));
    const first = reshape(slice(x, 1, 0, 1), [input.batch, this.config.hiddenSize]);
    return { lastHiddenState: x, pooled: this.pooler ? tanh(this.pooler.forward(first)) : first };
  }
}

/** RoBERTa's classification head: dense + tanh on the <s> state, then out_proj. */
class RobertaClassificationHead extends Module {
  readonly dense: Linear;
  readonly out_proj: Linear;
  readonly dropout: Dropout;
  constructor(hidden: number, labels: number, rng: Random, dropoutP: number) {
    super();
    this.dense = this.child('dense', new Linear(hidden, hidden, rng));
    this.out_proj = this.child('out_proj', new Linear(hidden, labels, rng));
    this.dropout = this.child('dropout', new Dropout(dropoutP));
  }
  forward(first: Tensor): Tensor {
    return this.out_proj.forward(this.dropout.forward(tanh(this.dense.forward(this.dropout.forward(first)))));
  }
}

/** BertForSequenceClassification (classifier on the pooler) or RobertaForSequenceClassification (two-layer head on <s>). */
export class BertForSequenceClassification extends Module implements SequenceClassifier {
  readonly encoder: BertModel;
  readonly classifier: Linear | RobertaClassificationHead;
  /** BERT's dropout on the pooled output before its classifier (RoBERTa's head holds its own). */
  readonly dropout: Dropout | null;
  newHead = true;
  sourceDir: string | null = null;
  constructor(readonly config: BertConfig, readonly numLabels: number, rng: Random = new Random(0)) {
    super();
    this.encoder = this.child(config.roberta ? 'roberta' : 'bert', new BertModel(config, rng, !config.roberta));
    if (config.roberta) {
      const head = new RobertaClassificationHead(config.hiddenSize, numLabels, rng, config.classifierDropout);
      initNewHead(head.dense, rng);
      initNewHead(head.out_proj, rng);
      this.classifier = this.child('classifier', head);
    } else {
      const head = new Linear(config.hiddenSize, numLabels, rng);
      initNewHead(head, rng);
      this.classifier = this.child('classifier', head);
    }
    this.dropout = config.roberta ? null : this.child('dropout', new Dropout(config.classifierDropout));
  }
  get architecture(): string {
    return this.config.roberta ? 'RobertaForSequenceClassification' : 'BertForSequenceClassification';
  }
  /** RoBERTa's first padding_idx + 1 positions are never a token's (positionIds). */
  get maxTokens(): number {
    return this.config.roberta ? this.config.maxPositions - (this.config.padTokenId + 1) : this.config.maxPositions;
  }
  override headModules(): string[] {
    return ['classifier'];
  }
  logits(input: EncoderInput): Tensor {
    const pooled = this.encoder.forward(input).pooled;
    return this.classifier.forward(this.dropout ? this.dropout.forward(pooled) : pooled);
  }

  /** Loads a BERT/RoBERTa folder (a bare encoder or one with a head); a missing or differently sized head is made fresh. */
  static fromPretrained(dir: string, numLabels: number, seed = 0): BertForSequenceClassification {
    const config = readBertConfig(dir);
    const { model, loaded } = loadFromCheckpoint(dir, () => new BertForSequenceClassification(config, numLabels, new Random(seed)),
      (m, reader) => loadEncoderCheckpoint(m, reader, config.roberta ? 'roberta.' : 'bert.'));
    model.newHead = loaded;
    model.sourceDir = dir;
    return model;
  }
}

/** Tensors a BERT/RoBERTa checkpoint may hold that a sequence classifier does not use. */
const UNUSED_TENSORS = /^(cls\.|lm_head\.)|position_ids$|^(roberta\.)?pooler\./;

/**
 * Fills the model from a checkpoint whose encoder tensors are named with or without the encoder's
 * prefix ("bert.embeddings..." from a task model, "embeddings..." from a bare BertModel). Returns
 * true when the head was not in the checkpoint (or had another size) and stays freshly made.
 */
function loadEncoderCheckpoint(model: BertForSequenceClassification, reader: CheckpointReader, prefix: string): boolean {
  const { missing } = loadStateDict(model, reader, {
    what: model.architecture,
    sources: (name) => (name.startsWith(prefix) ? [{ name }, { name: name.slice(prefix.length) }] : [{ name }]),
    optional: (name) => name.startsWith('classifier.'),
    ignore: (n) => UNUSED_TENSORS.test(n),
  });
  return missing.length > 0;
}

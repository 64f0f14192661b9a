// ViTForImageClassification with Hugging Face's module tree and tensor names (patch embedding as
// a 16x16 strided convolution, CLS token, learned positions, pre-norm blocks, classifier on CLS),
// loaded from Hugging Face folders or from timm's vit_* checkpoints (config.ts reads either config,
// timm.ts maps the names, export.ts writes a Hugging Face folder).
import { CheckpointReader, loadFromCheckpoint } from '../../io/hf_folder.js';
import { DropPath, Dropout, LayerNorm, Linear } from '../../nn/layers.js';
import { Module, type AdapterNaming } from '../../nn/module.js';
import { releasingUnread } from '../../tensor/memory.js';
import { vitAdapterNaming } from './adapter_naming.js';
import { gelu } from '../../ops/activations.js';
import { scaledDotProductAttention } from '../../ops/attention.js';
import { add } from '../../ops/elementwise.js';
import { linear } from '../../ops/matmul.js';
import { concat, reshape, slice, transpose } from '../../ops/shape_ops.js';
import { Random } from '../../tensor/random.js';
import { initNewHead } from '../encoder.js';
import { loadStateDict } from '../load_state_dict.js';
import { Tensor } from '../../tensor/tensor.js';
import { GiftjsError } from '../../errors.js';
import { readViTConfig, type ViTConfig } from './config.js';
import { timmName } from './timm.js';

export { readViTConfig, vitConfigJson, VIT_B16, type ViTConfig } from './config.js';
export { saveViTPretrained } from './export.js';

/** The shape of a batch of images as patch rows: [B, patches, C * p * p]. */
export function patchRowsShape(batch: number, c: ViTConfig): [number, number, number] {
  return [batch, (c.imageSize / c.patchSize) ** 2, c.numChannels * c.patchSize ** 2];
}

/** Cuts images [B, C, H, W] (row-major floats) into patch rows [B, patches, C * p * p] in (c, y, x) order, as the convolution reads them. */
export function imagesToPatches(pixels: Float32Array, batch: number, c: ViTConfig): Tensor {
  const { numChannels: C, imageSize: S, patchSize: P } = c;
  const g = S / P;
  // (Too few values had been read past their end, as NaN.)
  if (pixels.length !== batch * C * S * S) throw new GiftjsError(`imagesToPatches: ${pixels.length} values for ${batch} images of ${C} x ${S} x ${S} (${batch * C * S * S})`);
  return Tensor.fromHost(patchRowsShape(batch, c), (o) => {
    let k = 0;
    for (let b = 0; b < batch; b++)
      for (let py = 0; py < g; py++)
        for (let px = 0; px < g; px++)
          for (let ch = 0; ch < C; ch++)
            for (let y = 0; y < P; y++) {
              const src = ((b * C + ch) * S + py * P + y) * S + px * P;
              for (let x = 0; x < P; x++) o[k++] = pixels[src + x]!;
            }
  });
}

class PatchEmbeddings extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(private readonly c: ViTConfig, rng: Random) {
    super();
    const fanIn = c.numChannels * c.patchSize * c.patchSize;
    const bound = 1 / Math.sqrt(fanIn);
    this.weight = this.param('projection.weight', Tensor.uniform([c.hiddenSize, c.numChannels, c.patchSize, c.patchSize], rng, -bound, bound));
    this.bias = this.param('projection.bias', Tensor.uniform([c.hiddenSize], rng, -bound, bound));
  }
  /** A stride-p convolution with a p x p kernel is a Linear over the flattened patches. */
  forward(patches: Tensor): Tensor {
    const fanIn = this.c.numChannels * this.c.patchSize * this.c.patchSize;
    return linear(patches, reshape(this.weight, [this.c.hiddenSize, fanIn]), this.bias);
  }
}

class Embeddings extends Module {
  readonly cls_token: Tensor;
  readonly position_embeddings: Tensor;
  readonly patch_embeddings: PatchEmbeddings;
  readonly dropout: Dropout;
  constructor(private readonly c: ViTConfig, rng: Random) {
    super();
    const patches = (c.imageSize / c.patchSize) ** 2;
    this.cls_token = this.param('cls_token', Tensor.randn([1, 1, c.hiddenSize], rng, 0.02));
    this.position_embeddings = this.param('position_embeddings', Tensor.randn([1, patches + 1, c.hiddenSize], rng, 0.02));
    this.patch_embeddings = this.child('patch_embeddings', new PatchEmbeddings(c, rng));
    this.dropout = this.child('dropout', new Dropout(c.hiddenDropout ?? 0));
  }
  forward(patches: Tensor, batch: number): Tensor {
    const x = this.patch_embeddings.forward(patches);
    // zeros + cls broadcasts the token over the batch and keeps its gradient path
    const cls = add(Tensor.zeros([batch, 1, this.c.hiddenSize]), this.cls_token);
    return this.dropout.forward(add(concat([cls, x], 1), this.position_embeddings));
  }
}

class ViTLayer extends Module {
  readonly layernorm_before: LayerNorm;
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly output: Linear;
  readonly layernorm_after: LayerNorm;
  readonly intermediate: Linear;
  readonly mlpOutput: Linear;
  readonly attentionDropout: Dropout;
  readonly attentionOutputDropout: Dropout;
  readonly outputDropout: Dropout;
  /** Stochastic depth on the attention and MLP branches (timm's drop_path1 and drop_path2; 0 unless a run sets it). */
  readonly attentionDropPath: DropPath;
  readonly mlpDropPath: DropPath;
  constructor(private readonly c: ViTConfig, rng: Random) {
    super();
    const H = c.hiddenSize;
    this.layernorm_before = this.child('layernorm_before', new LayerNorm(H, c.layerNormEps));
    this.query = this.child('attention.attention.query', new Linear(H, H, rng));
    this.key = this.child('attention.attention.key', new Linear(H, H, rng));
    this.value = this.child('attention.attention.value', new Linear(H, H, rng));
    this.output = this.child('attention.output.dense', new Linear(H, H, rng));
    this.layernorm_after = this.child('layernorm_after', new LayerNorm(H, c.layerNormEps));
    this.intermediate = this.child('intermediate.dense', new Linear(H, c.intermediateSize, rng));
    this.mlpOutput = this.child('output.dense', new Linear(c.intermediateSize, H, rng));
    this.attentionDropout = this.child('attention.attention.dropout', new Dropout(c.attentionDropout ?? 0));
    this.attentionOutputDropout = this.child('attention.output.dropout', new Dropout(c.hiddenDropout ?? 0));
    this.outputDropout = this.child('output.dropout', new Dropout(c.hiddenDropout ?? 0));
    this.attentionDropPath = this.child('drop_path1', new DropPath());
    this.mlpDropPath = this.child('drop_path2', new DropPath());
  }
  forward(x: Tensor, batch: number, seq: number): Tensor {
    const { hiddenSize: H, numHeads: nh } = this.c;
    const hd = H / nh;
    const h = this.layernorm_before.forward(x);
    const heads = (t: Tensor) => transpose(reshape(t, [batch, seq, nh, hd]), 1, 2);
    const attn = scaledDotProductAttention(heads(this.query.forward(h)), heads(this.key.forward(h)), heads(this.value.forward(h)),
      this.attentionDropout.active ? { dropout: { p: this.attentionDropout.p, rng: this.attentionDropout.rng } } : {});
    const x1 = add(x, this.attentionDropPath.forward(this.attentionOutputDropout.forward(this.output.forward(reshape(transpose(attn, 1, 2), [batch, seq, H])))));
    return add(x1, this.mlpDropPath.forward(this.outputDropout.forward(this.mlpOutput.forward(gelu(this.intermediate.forward(this.layernorm_after.forward(x1)))))));
  }
}

class ViTModel extends Module {
  readonly embeddings: Embeddings;
  readonly layers: ViTLayer[];
  readonly layernorm: LayerNorm;
  constructor(c: ViTConfig, rng: Random) {
    super();
    this.embeddings = this.child('embeddings', new Embeddings(c, rng));
    this.layers = Array.from({ length: c.numLayers }, (_, i) => this.child(`encoder.layer.${i}`, new ViTLayer(c, rng)));
    this.layernorm = this.child('layernorm', new LayerNorm(c.hiddenSize, c.layerNormEps));
  }
}

export class ViTForImageClassification extends Module {
  readonly vit: ViTModel;
  readonly classifier: Linear;
  /** True when the classifier was made fresh (the checkpoint had none of this size). */
  newHead = true;
  sourceDir: string | null = null;
  constructor(readonly config: ViTConfig, rng: Random) {
    super();
    this.vit = this.child('vit', new ViTModel(config, rng));
    this.classifier = this.child('classifier', new Linear(config.hiddenSize, config.numLabels, rng));
  }

  get numLabels(): number {
    return this.config.numLabels;
  }

  /**
   * Loads a Hugging Face ViT folder (config.json + safetensors) or a timm vit_* folder; with
   * numLabels (or labels) differing from the checkpoint's head, the classifier is made fresh (seeded).
   */
  static fromPretrained(dir: string, options: { numLabels?: number; labels?: string[]; seed?: number } = {}): ViTForImageClassification {
    const { config: base, timm } = readViTConfig(dir);
    const numLabels = options.labels?.length ?? options.numLabels ?? base.numLabels;
    const config: ViTConfig = { ...base, numLabels, labels: options.labels ?? (numLabels === base.numLabels ? base.labels : undefined) };
    const { model, loaded } = loadFromCheckpoint(dir, () => new ViTForImageClassification(config, new Random(options.seed ?? 0)), (m, reader) => loadViTWeights(m, reader, timm));
    model.newHead = loaded;
    if (model.newHead) initNewHead(model.classifier, new Random((options.seed ?? 0) + 1));
    model.sourceDir = dir;
    return model;
  }

  /**
   * Stochastic depth at `rate`, as timm's VisionTransformer(drop_path_rate=rate) applies it: block i of
   * n drops each example's attention and MLP branches with probability rate * i / (n - 1) (torch.linspace(0,
   * rate, n)), the first block never. In training mode only; 0 turns it off.
   */
  setDropPath(rate: number): void {
    if (!(rate >= 0 && rate < 1)) throw new GiftjsError(`drop-path rate must be in [0, 1), got ${rate}`);
    const n = this.vit.layers.length;
    this.vit.layers.forEach((layer, i) => {
      const p = n > 1 ? (rate * i) / (n - 1) : 0;
      layer.attentionDropPath.p = p;
      layer.mlpDropPath.p = p;
    });
  }

  get architecture(): string {
    return 'ViTForImageClassification';
  }

  override headModules(): string[] {
    return ['classifier'];
  }

  override adapterNaming(): AdapterNaming {
    return vitAdapterNaming(this.config.transformersVersion ?? null);
  }

  /** Class logits [B, labels] for patch rows [B, patches, C * p * p] (see imagesToPatches). */
  forward(patches: Tensor): Tensor {
    const batch = patches.shape[0]!;
    const seq = patches.shape[1]! + 1;
    let x = this.vit.embeddings.forward(patches, batch);
    for (const layer of this.vit.layers) x = releasingUnread(() => layer.forward(x, batch, seq));
    const cls = reshape(slice(this.vit.layernorm.forward(x), 1, 0, 1), [batch, this.config.hiddenSize]);
    return this.classifier.forward(cls);
  }
}

/** Fills the model; returns true when the classifier stays fresh (absent, or another number of labels). */
function loadViTWeights(model: ViTForImageClassification, reader: CheckpointReader, timm: boolean): boolean {
  const H = model.config.hiddenSize;
  const { missing } = loadStateDict(model, reader, {
    what: 'ViTForImageClassification',
    sources: (name) => {
      if (!timm) return [{ name }];
      const t = timmName(name, H);
      return [t.rows ? { name: t.name, rows: t.rows } : { name: t.name }];
    },
    optional: (name) => name.startsWith('classifier.'),
  });
  return missing.length > 0;
}


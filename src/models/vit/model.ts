// ViTForImageClassification with Hugging Face's module tree and tensor names (patch embedding as
// a 16x16 strided convolution, CLS token, learned positions, pre-norm blocks, classifier on CLS),
// loaded from Hugging Face folders or from timm's vit_* checkpoints (names mapped, fused qkv split).
import { checkSizeLimit } from '../config_limits.js';
import { join } from 'node:path';
import { writeFileAtomic, writeFolderAtomic } from '../../io/atomic.js';
import { CheckpointReader, loadFromCheckpoint, parseId2label, readJsonFile, withCheckpoint } from '../../io/hf_folder.js';
import { saveSafetensors } from '../../io/safetensors.js';
import { LayerNorm, Linear } from '../../nn/layers.js';
import { Module } from '../../nn/module.js';
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

export interface ViTConfig {
  /** Label names by index (id2label); length numLabels. */
  labels?: string[];
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  imageSize: number;
  patchSize: number;
  numChannels: number;
  numLabels: number;
  layerNormEps: number;
}

export const VIT_B16: ViTConfig = { hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072, imageSize: 224, patchSize: 16, numChannels: 3, numLabels: 1000, layerNormEps: 1e-12 };

/** Cuts images [B, C, H, W] (row-major floats) into patch rows [B, patches, C * p * p] in (c, y, x) order, as the convolution reads them. */
export function imagesToPatches(pixels: Float32Array, batch: number, c: ViTConfig): Tensor {
  const { numChannels: C, imageSize: S, patchSize: P } = c;
  const g = S / P;
  const out = Tensor.empty([batch, g * g, C * P * P]);
  const o = out.data;
  let k = 0;
  for (let b = 0; b < batch; b++)
    for (let py = 0; py < g; py++)
      for (let px = 0; px < g; px++)
        for (let ch = 0; ch < C; ch++)
          for (let y = 0; y < P; y++) {
            const src = ((b * C + ch) * S + py * P + y) * S + px * P;
            for (let x = 0; x < P; x++) o[k++] = pixels[src + x]!;
          }
  return out;
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
  constructor(private readonly c: ViTConfig, rng: Random) {
    super();
    const patches = (c.imageSize / c.patchSize) ** 2;
    this.cls_token = this.param('cls_token', Tensor.randn([1, 1, c.hiddenSize], rng, 0.02));
    this.position_embeddings = this.param('position_embeddings', Tensor.randn([1, patches + 1, c.hiddenSize], rng, 0.02));
    this.patch_embeddings = this.child('patch_embeddings', new PatchEmbeddings(c, rng));
  }
  forward(patches: Tensor, batch: number): Tensor {
    const x = this.patch_embeddings.forward(patches);
    // zeros + cls broadcasts the token over the batch and keeps its gradient path
    const cls = add(Tensor.zeros([batch, 1, this.c.hiddenSize]), this.cls_token);
    return add(concat([cls, x], 1), this.position_embeddings);
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
  }
  forward(x: Tensor, batch: number, seq: number): Tensor {
    const { hiddenSize: H, numHeads: nh } = this.c;
    const hd = H / nh;
    const h = this.layernorm_before.forward(x);
    const heads = (t: Tensor) => transpose(reshape(t, [batch, seq, nh, hd]), 1, 2);
    const attn = scaledDotProductAttention(heads(this.query.forward(h)), heads(this.key.forward(h)), heads(this.value.forward(h)));
    const x1 = add(x, this.output.forward(reshape(transpose(attn, 1, 2), [batch, seq, H])));
    return add(x1, this.mlpOutput.forward(gelu(this.intermediate.forward(this.layernorm_after.forward(x1)))));
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

  headModules(): string[] {
    return ['classifier'];
  }

  /** Class logits [B, labels] for patch rows [B, patches, C * p * p] (see imagesToPatches). */
  forward(patches: Tensor): Tensor {
    const batch = patches.shape[0]!;
    const seq = patches.shape[1]! + 1;
    let x = this.vit.embeddings.forward(patches, batch);
    for (const layer of this.vit.layers) x = layer.forward(x, batch, seq);
    const cls = reshape(slice(this.vit.layernorm.forward(x), 1, 0, 1), [batch, this.config.hiddenSize]);
    return this.classifier.forward(cls);
  }
}

/** Hugging Face's ViT config.json, or timm's (architecture "vit_*"; sizes read from the weights). */
export function readViTConfig(dir: string): { config: ViTConfig; timm: boolean } {
  const path = join(dir, 'config.json');
  const raw = readJsonFile(path);
  if (typeof raw.architecture === 'string' && raw.architecture.startsWith('vit_')) return { config: timmViTConfig(dir, raw, path), timm: true };
  const int = (k: string, fallback?: number): number => {
    const v = raw[k] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new GiftjsError(`${path}: '${k}' must be a positive integer, got ${JSON.stringify(raw[k])}`);
    checkSizeLimit(k, v, path);
    return v;
  };
  const labels = parseId2label(raw.id2label, path) ?? undefined;
  const c: ViTConfig = {
    hiddenSize: int('hidden_size'), numLayers: int('num_hidden_layers'), numHeads: int('num_attention_heads'), intermediateSize: int('intermediate_size'),
    imageSize: int('image_size'), patchSize: int('patch_size'), numChannels: int('num_channels', 3), numLabels: labels?.length ?? int('num_labels', 2),
    layerNormEps: typeof raw.layer_norm_eps === 'number' ? raw.layer_norm_eps : 1e-12, labels,
  };
  if (c.imageSize % c.patchSize !== 0) throw new GiftjsError(`${path}: image_size ${c.imageSize} is not a multiple of patch_size ${c.patchSize}`);
  if (raw.hidden_act !== undefined && raw.hidden_act !== 'gelu') throw new GiftjsError(`${path}: hidden_act '${String(raw.hidden_act)}' is not supported (gelu)`);
  return { config: c, timm: false };
}

/** Heads of timm's standard ViT sizes (the weights do not tell them). */
const TIMM_HEADS: Record<string, number> = { tiny: 3, small: 6, base: 12, large: 16, huge: 16 };

function timmViTConfig(dir: string, raw: Record<string, unknown>, path: string): ViTConfig {
  const arch = String(raw.architecture);
  return withCheckpoint(dir, (reader) => {
    const shape = (n: string) => {
      if (!reader.has(n)) throw new GiftjsError(`${dir}: timm checkpoint without '${n}'`);
      return reader.info(n).shape;
    };
    const [H, C, P] = shape('patch_embed.proj.weight') as [number, number, number];
    const tokens = shape('pos_embed')[1]!;
    let layers = 0;
    while (reader.has(`blocks.${layers}.attn.qkv.weight`)) layers++;
    const size = /^vit_(tiny|small|base|large|huge)_/.exec(arch)?.[1];
    const heads = typeof raw.num_heads === 'number' ? raw.num_heads : size ? TIMM_HEADS[size] : undefined;
    if (!heads) throw new GiftjsError(`${path}: cannot tell the number of heads of '${arch}' (add "num_heads")`);
    const labels = Array.isArray(raw.label_names) ? (raw.label_names as unknown[]).map(String) : undefined;
    const numLabels = reader.has('head.weight') ? shape('head.weight')[0]! : typeof raw.num_classes === 'number' ? raw.num_classes : 1000;
    return {
      hiddenSize: H, numLayers: layers, numHeads: heads, intermediateSize: shape('blocks.0.mlp.fc1.weight')[0]!,
      imageSize: Math.round(Math.sqrt(tokens - 1)) * P!, patchSize: P!, numChannels: C!, numLabels, layerNormEps: 1e-6,
      labels: labels?.length === numLabels ? labels : undefined,
    };
  });
}

/** timm's name for a Hugging Face ViT parameter, with the rows of a fused qkv tensor it lives in ([start, end) or null). */
function timmName(name: string, H: number): { name: string; rows: [number, number] | null } {
  const layer = /^vit\.encoder\.layer\.(\d+)\.(.+)$/.exec(name);
  if (layer) {
    const [, i, rest] = layer;
    const qkv = /^attention\.attention\.(query|key|value)\.(weight|bias)$/.exec(rest!);
    if (qkv) {
      const k = ['query', 'key', 'value'].indexOf(qkv[1]!);
      return { name: `blocks.${i}.attn.qkv.${qkv[2]}`, rows: [k * H, (k + 1) * H] };
    }
    const map: Record<string, string> = {
      'layernorm_before': 'norm1', 'layernorm_after': 'norm2', 'attention.output.dense': 'attn.proj', 'intermediate.dense': 'mlp.fc1', 'output.dense': 'mlp.fc2',
    };
    const m = /^(.+)\.(weight|bias)$/.exec(rest!)!;
    return { name: `blocks.${i}.${Object.hasOwn(map, m[1]!) ? map[m[1]!] : m[1]}.${m[2]}`, rows: null };
  }
  const top: Record<string, string> = {
    'vit.embeddings.cls_token': 'cls_token', 'vit.embeddings.position_embeddings': 'pos_embed',
    'vit.embeddings.patch_embeddings.projection.weight': 'patch_embed.proj.weight', 'vit.embeddings.patch_embeddings.projection.bias': 'patch_embed.proj.bias',
    'vit.layernorm.weight': 'norm.weight', 'vit.layernorm.bias': 'norm.bias', 'classifier.weight': 'head.weight', 'classifier.bias': 'head.bias',
  };
  return { name: Object.hasOwn(top, name) ? top[name]! : name, rows: null };
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

/** Hugging Face's config.json for a ViTForImageClassification. */
export function vitConfigJson(c: ViTConfig): Record<string, unknown> {
  const labels = c.labels ?? Array.from({ length: c.numLabels }, (_, i) => `LABEL_${i}`);
  return {
    architectures: ['ViTForImageClassification'], model_type: 'vit', hidden_size: c.hiddenSize, num_hidden_layers: c.numLayers, num_attention_heads: c.numHeads,
    intermediate_size: c.intermediateSize, hidden_act: 'gelu', image_size: c.imageSize, patch_size: c.patchSize, num_channels: c.numChannels,
    layer_norm_eps: c.layerNormEps, qkv_bias: true, id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])), label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
  };
}

/** Writes a loadable Hugging Face folder (config.json, model.safetensors, preprocessor_config.json), atomically. */
export function saveViTPretrained(model: ViTForImageClassification, dir: string, preprocessing: { mean: number[]; std: number[] }): void {
  const c = model.config;
  writeFolderAtomic(dir, (tmp) => {
    writeFileAtomic(join(tmp, 'config.json'), [`${JSON.stringify(vitConfigJson(c), null, 2)}\n`]);
    writeFileAtomic(join(tmp, 'preprocessor_config.json'), [`${JSON.stringify({
      image_processor_type: 'ViTImageProcessor', do_resize: true, size: { height: c.imageSize, width: c.imageSize }, do_rescale: true, rescale_factor: 1 / 255,
      do_normalize: true, image_mean: preprocessing.mean, image_std: preprocessing.std,
    }, null, 2)}\n`]);
    saveSafetensors(join(tmp, 'model.safetensors'), Object.fromEntries(model.namedParameters()), { format: 'pt' });
  });
}

// ViT's configuration: Hugging Face's config.json (read and written), or a timm vit_* folder's,
// whose sizes are read from the weights.
import { join } from 'node:path';
import { parseId2label, readJsonFile, withCheckpoint } from '../../io/hf_folder.js';
import { checkSizeLimit, configNumbers } from '../config_limits.js';
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
  /** Training dropouts (ViTConfig's hidden_dropout_prob, attention_probs_dropout_prob; absent: 0, as transformers' defaults). */
  hiddenDropout?: number;
  attentionDropout?: number;
  /** config.json's transformers_version (null when absent): which module names adapters use (adapter_naming.ts). */
  transformersVersion?: string | null;
}

export const VIT_B16: ViTConfig = { hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072, imageSize: 224, patchSize: 16, numChannels: 3, numLabels: 1000, layerNormEps: 1e-12 };

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
  const { positive, probability } = configNumbers(raw, path, (message) => {
    throw new GiftjsError(`${path}: ${message}`);
  });
  const labels = parseId2label(raw.id2label, path) ?? undefined;
  const c: ViTConfig = {
    hiddenSize: int('hidden_size'), numLayers: int('num_hidden_layers'), numHeads: int('num_attention_heads'), intermediateSize: int('intermediate_size'),
    imageSize: int('image_size'), patchSize: int('patch_size'), numChannels: int('num_channels', 3), numLabels: labels?.length ?? int('num_labels', 2),
    layerNormEps: positive('layer_norm_eps', 1e-12), labels,
    hiddenDropout: probability('hidden_dropout_prob', 0), attentionDropout: probability('attention_probs_dropout_prob', 0),
    transformersVersion: typeof raw.transformers_version === 'string' ? raw.transformers_version : null,
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

/** Hugging Face's config.json for a ViTForImageClassification. */
export function vitConfigJson(c: ViTConfig): Record<string, unknown> {
  const labels = c.labels ?? Array.from({ length: c.numLabels }, (_, i) => `LABEL_${i}`);
  return {
    architectures: ['ViTForImageClassification'], model_type: 'vit', hidden_size: c.hiddenSize, num_hidden_layers: c.numLayers, num_attention_heads: c.numHeads,
    intermediate_size: c.intermediateSize, hidden_act: 'gelu', image_size: c.imageSize, patch_size: c.patchSize, num_channels: c.numChannels,
    layer_norm_eps: c.layerNormEps, qkv_bias: true,
    ...(c.hiddenDropout ? { hidden_dropout_prob: c.hiddenDropout } : {}), ...(c.attentionDropout ? { attention_probs_dropout_prob: c.attentionDropout } : {}),
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])), label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
  };
}

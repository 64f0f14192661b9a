// Loading what the model commands share: the model folder, its tokenizer, an optional adapter.
import { Tokenizer } from '../io/tokenizer.js';
import type { CausalLM } from '../models/causal_lm.js';
import { loadCausalLM, readModelConfig } from '../models/registry.js';
import { hubModelFolder, parseHubModelId } from '../io/hub.js';
import { ggufModelFolder } from '../models/gguf_import.js';
import { intOption, requireString } from './args.js';
import { GiftjsError } from '../errors.js';
import { getBackend, setBf16Compute, setInt8Activations } from '../backend/index.js';
import { QUANT_FORMATS, type QuantFormat } from '../formats/quantized.js';
import { loadAdapter } from '../peft/adapter_io.js';
import type { AttachedAdapter } from '../peft/method.js';

export interface LoadedModel {
  model: CausalLM;
  adapter: AttachedAdapter | null;
}

/**
 * The model with an optional adapter. `readOnly`: the command only reads the weights (eval,
 * generate), so a BF16 checkpoint's matrices stay bfloat16 and a GGUF's blocks quantized, as stored;
 * merge changes them. `decodes`: the command decodes a token at a time (generate, serve), so a GGUF's
 * Q8_0/Q4_0 blocks are copied apart, the layout decoding's one-row products read fastest (mapped in
 * place, the 1B shape's Q4_0 decoded at 0.73-0.92x the rate).
 */
export function loadModelWithAdapter(modelDir: string, adapterDir: string | undefined, o: { readOnly?: boolean; decodes?: boolean; quantize?: QuantFormat } = {}): LoadedModel {
  const model = loadCausalLM(modelDir, { keepStoredDtype: o.readOnly === true, keepStoredBlocks: o.readOnly === true, copyStoredBlocks: o.decodes === true, quantize: o.quantize });
  const adapter = adapterDir ? loadAdapter(adapterDir, model) : null;
  return { model, adapter };
}

export function loadTokenizer(modelDir: string): Tokenizer {
  return Tokenizer.fromFolder(modelDir);
}

/**
 * --max-length for a causal LM folder: sequences longer than the model's context cannot be run, so an
 * explicit value past it is refused and the default is cut to it.
 */
export function sequenceLengthOption(modelDir: string, flag: unknown, fallback: number): number {
  const asked = intOption(flag, 'max-length', fallback, 2);
  const context = readModelConfig(modelDir).maxPositionEmbeddings;
  if (flag !== undefined && asked > context) throw new GiftjsError(`--max-length ${asked} is longer than the model's context (max_position_embeddings ${context})`);
  return Math.min(asked, context);
}

/**
 * --model as a local folder, a GGUF file (read through a folder made from it: models/gguf_import.ts), or a Hugging Face hub id (org/name[@revision]) downloaded once into
 * the hub cache and read from there (HF_HOME, HF_TOKEN, HF_HUB_OFFLINE honoured).
 */
export async function requireModelFolder(values: Record<string, unknown>, usage: string): Promise<string> {
  const spec = requireString(values, 'model', usage);
  if (/\.gguf$/i.test(spec)) {
    const { dir, note } = ggufModelFolder(spec);
    process.stderr.write(`${note}\n`);
    return dir;
  }
  const ref = parseHubModelId(spec);
  return ref ? hubModelFolder(ref) : spec;
}

/** --quantize int8|int4, or undefined; refused on a backend that keeps no quantized weights. */
export function quantizeOption(flag: unknown): QuantFormat | undefined {
  if (flag === undefined) return undefined;
  if (!QUANT_FORMATS.includes(flag as QuantFormat)) throw new GiftjsError(`--quantize must be ${QUANT_FORMATS.join(' or ')}, got '${String(flag)}'`);
  const backend = getBackend();
  if (!backend.memory.adoptQuantized) throw new GiftjsError(`--quantize runs on the CPU backends (native, ref); the ${backend.name} backend has no quantized kernels (leave out --quantize)`);
  return flag as QuantFormat;
}


/**
 * --int8-activations: inference's products over the model's quantized weights (prefill and
 * decoding) with the activations rounded to Q8_0 (Backend.setInt8Activations), on until turned off; refused by name where no
 * weight is quantized, since it would then change nothing.
 */
/**
 * generate's and serve's --int8-activations and --bf16, checked before anything is loaded: the two
 * round the activations two ways, and --bf16 needs a backend with bf16 compute.
 */
export function checkActivationRounding(values: { bf16?: unknown; 'int8-activations'?: unknown }): void {
  if (values.bf16 && values['int8-activations']) throw new GiftjsError('--bf16 and --int8-activations round the activations two ways (bf16, or 8 bits per block of 32): give one');
  if (values.bf16 && !getBackend().setBf16Compute) throw new GiftjsError(`--bf16 runs on the CPU backends (native, ref); the ${getBackend().name} backend computes in float32 (leave out --bf16)`);
}

/**
 * --bf16 for generate and serve, turned on once the model and adapter are loaded (nothing loading computes is rounded):
 * every product on bf16 dot products (activations rounded to bf16), as train --bf16 computes and
 * llama.cpp computes over BF16 weights. Says so where the CPU lacks AVX-512 BF16 and the products stay float32.
 */
export function enableBf16Products(command: string): void {
  // (ref emulates the bf16 products exactly and says false: no CPU instructions run them.)
  if (!setBf16Compute(true) && getBackend().name !== 'ref') console.error(`${command}: this CPU has no AVX-512 BF16, so the products stay float32 (--bf16 changes nothing here)`);
}

export function enableInt8Activations(model: CausalLM, modelDir: string): void {
  if (!model.parameters().some((p) => p.quantized?.isQuantized)) {
    throw new GiftjsError(`--int8-activations rounds the activations of products over quantized weights, and no weight of ${modelDir} is quantized: add --quantize int8|int4, or give a Q8_0 / Q4_0 GGUF`);
  }
  setInt8Activations(true);
}

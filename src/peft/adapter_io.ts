// Adapters on disk, as a folder: adapter_config.json (the method's config, the base model it was
// trained on, the giftjs version) and adapter_model.safetensors (the trainable tensors, F32).
// LoRA's config also carries PEFT's own fields so that Hugging Face PEFT can load the folder.
import { fileExists } from '../io/files.js';
import { join } from 'node:path';
import { writeFilesAtomic } from '../io/atomic.js';
import { verifyWrittenFiles } from '../io/written_files.js';
import { readJsonFile } from '../io/hf_folder.js';
import { concatBytes, float32Raws, nonFiniteEntryNames, SafetensorsFile, safetensorsChunks, safetensorsRaws, type SafetensorsRaw } from '../io/safetensors.js';
import type { AdapterNaming, Module } from '../nn/module.js';
import { Linear } from '../nn/layers.js';
import { Random } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { GIFTJS_VERSION } from '../version.js';
import type { AdapterTaskInfo, AttachedAdapter } from './method.js';
import { modulesToSave, withModulesToSave } from './modules_to_save.js';
import { METHOD_NAMES, methodForPeftType, peftMethod, peftTypes } from './registry.js';
import { GiftjsError } from '../errors.js';

export interface BaseModelInfo {
  /** The folder or hub name of the base model. */
  path: string;
  architecture: string;
  /** The model's adapter naming (Module.adapterNaming): a PEFT adapter is written under the saved names when it says so. */
  naming?: AdapterNaming | null;
}

/** A tensor name with its module path renamed by `f` (the longest leading path `f` changes). */
function renameTensor(name: string, f: (path: string) => string): string {
  const prefix = name.startsWith(PEFT_PREFIX) ? PEFT_PREFIX : '';
  const parts = name.slice(prefix.length).split('.');
  for (let i = parts.length - 1; i > 0; i--) {
    const path = parts.slice(0, i).join('.');
    const mapped = f(path);
    if (mapped !== path) return `${prefix}${[mapped, ...parts.slice(i)].join('.')}`;
  }
  return name;
}

/** The module paths LoRA tensors sit on (name minus prefix and .lora_A/.lora_B.weight). */
function loraModulePaths(names: Iterable<string>): string[] {
  const paths = new Set<string>();
  for (const n of names) {
    const m = /^(?:base_model\.model\.)?(.+)\.lora_[AB]\.weight$/.exec(n);
    if (m) paths.add(m[1]!);
  }
  return [...paths];
}

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
/**
 * For a method PEFT also has (LoRA), adapter_config.json holds PEFT's fields only, so PEFT loads it
 * without a warning; what only giftjs reads (the method name, the base architecture, a classifier's
 * labels) goes here, beside it.
 */
export const GIFTJS_SIDE_CONFIG = 'giftjs_config.json';

/** The prefix PEFT puts before every tensor name in an adapter file (its model wrappers). */
const PEFT_PREFIX = 'base_model.model.';

/**
 * Attaches a method to a model from a config object (CLI flags or a saved adapter_config.json);
 * `modules_to_save` (PEFT's name) adds modules trained in full, such as a new classifier head.
 */
export function attachAdapter(model: Module, rawConfig: Record<string, unknown>, seed = 0, source = 'adapter config'): AttachedAdapter {
  const method = peftMethod(String(rawConfig.method));
  // A second adapter had silently taken the first one's layers: the first then trained nothing and
  // saved its initial values. One adapter at a time (merge it, or load the model again).
  const adapted = model.namedModules().filter(([, m]) => m instanceof Linear && m.adapter !== null).map(([n]) => n);
  if (adapted.length > 0) {
    throw new GiftjsError(`${source}: the model already carries an adapter (on ${adapted.slice(0, 3).join(', ')}${adapted.length > 3 ? ` and ${adapted.length - 3} more` : ''}); giftjs attaches one at a time -- merge that one first, or load the model again`);
  }
  const config = method.parseConfig(rawConfig, source);
  const adapter = withModulesToSave(model, method.attach(model, config, new Random(seed)), modulesToSave(rawConfig, source), source, method.peftType ? PEFT_PREFIX : '');
  // A weight kept as its bfloat16 checkpoint stores it is trained in float32 (full, head, bitfit);
  // a quantized one cannot be trained at all.
  for (const [name, t] of adapter.namedTrainable()) {
    const q = t.quantized;
    if (q) {
      throw new GiftjsError(`${source}: ${method.name} would train '${name}', which is quantized (${q.format}); a quantized base is frozen -- train an adapter on it (gift, lora) or biases (bitfit), or load the model without --quantize`);
    }
    t.storeAsFloat32();
  }
  return adapter;
}

/** adapter_config.json, and the side file's fields when the method is one PEFT loads. */
function adapterConfigFiles(adapter: AttachedAdapter, base: BaseModelInfo, extra: Record<string, unknown>): { config: Record<string, unknown>; side: Record<string, unknown> | null } {
  const ours: Record<string, unknown> = { ...adapter.config, base_model_name_or_path: base.path, base_architecture: base.architecture, giftjs_version: GIFTJS_VERSION, ...extra };
  const peft = peftMethod(adapter.method).peftConfigFields?.(adapter.config, extra.task as AdapterTaskInfo | undefined);
  if (!peft) return { config: ours, side: null };
  const modules = adapter.config.modules_to_save as string[] | undefined;
  return {
    config: { ...peft, base_model_name_or_path: base.path, revision: null, modules_to_save: modules?.length ? modules : null },
    side: { method: adapter.method, base_architecture: base.architecture, giftjs_version: GIFTJS_VERSION, ...extra },
  };
}

/**
 * Writes the adapter folder atomically (a crash leaves the previous folder, never half of one).
 * `extra` fields (a classifier's labels, say) go into adapter_config.json, or beside it in
 * giftjs_config.json when the folder is PEFT's format.
 */
export function saveAdapter(dir: string, adapter: AttachedAdapter, base: BaseModelInfo, extra: Record<string, unknown> = {}): void {
  writeFilesAtomic(dir, adapterFileSet(adapter, base, extra, safetensorsRaws(Object.fromEntries(adapter.namedTrainable()))));
}

/** The adapter folder's files, each as chunks in order, from the trainable tensors' bytes however they were read. */
function adapterFileSet(adapter: AttachedAdapter, base: BaseModelInfo, extra: Record<string, unknown>, given: Record<string, SafetensorsRaw>): Record<string, Uint8Array[]> {
  let raws = given;
  const bad = nonFiniteEntryNames(raws);
  if (bad.length > 0) {
    throw new GiftjsError(`the adapter was not written: ${bad.slice(0, 4).join(', ')}${bad.length > 4 ? ` and ${bad.length - 4} more` : ''} hold NaN or infinite values (did training diverge?)`);
  }
  const { config, side } = adapterConfigFiles(adapter, base, extra);
  if (side && base.naming?.writeSaved) {
    // Written as transformers 5 names the modules in memory, which is what PEFT 0.21 loads there.
    const naming = base.naming;
    raws = Object.fromEntries(Object.entries(raws).map(([n, r]) => [renameTensor(n, naming.toSaved), r]));
    const targets = [...new Set(loraModulePaths(Object.keys(raws)).map((p) => p.split('.').pop()!))];
    if (targets.length > 0) config.target_modules = targets;
  }
  const json = (value: unknown) => [new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`)];
  return {
    [ADAPTER_CONFIG]: json(config),
    ...(side ? { [GIFTJS_SIDE_CONFIG]: json(side) } : {}),
    [ADAPTER_WEIGHTS]: safetensorsChunks(raws, { format: 'pt', giftjs_method: adapter.method }),
  };
}

/**
 * The files saveAdapter writes (adapter_config.json, giftjs_config.json beside a PEFT method's
 * config, adapter_model.safetensors), each as chunks in order. The trained values come through the
 * asynchronous host boundary, so this works on every backend; in host memory the weights' chunks are
 * the tensors' own buffers (nothing copied), to be written before any kernel runs again.
 */
export async function adapterFileChunks(adapter: AttachedAdapter, base: BaseModelInfo, extra: Record<string, unknown> = {}): Promise<Record<string, Uint8Array[]>> {
  return adapterFileSet(adapter, base, extra, await float32Raws(Object.fromEntries(adapter.namedTrainable())));
}

/** The adapter's files as whole byte arrays (copies): what a browser page offers as downloads. */
export async function adapterFiles(adapter: AttachedAdapter, base: BaseModelInfo, extra: Record<string, unknown> = {}): Promise<Record<string, Uint8Array>> {
  const chunks = await adapterFileChunks(adapter, base, extra);
  return Object.fromEntries(Object.entries(chunks).map(([name, c]) => [name, concatBytes(c)]));
}

/**
 * saveAdapter on any backend: the values come through the asynchronous host boundary (a device
 * backend's only read), then the folder is written atomically, with the same files and bytes.
 */
export async function saveAdapterAsync(dir: string, adapter: AttachedAdapter, base: BaseModelInfo, extra: Record<string, unknown> = {}): Promise<void> {
  writeFilesAtomic(dir, await adapterFileChunks(adapter, base, extra));
}

/** An adapter folder's configuration: adapter_config.json, with giftjs_config.json's fields when present. */
export function readAdapterConfig(dir: string): Record<string, unknown> {
  const raw = readJsonFile(join(dir, ADAPTER_CONFIG));
  const sidePath = join(dir, GIFTJS_SIDE_CONFIG);
  if (!fileExists(sidePath)) return raw;
  const side = readJsonFile(sidePath);
  const clash = Object.keys(side).find((k) => Object.hasOwn(raw, k) && JSON.stringify(raw[k]) !== JSON.stringify(side[k]));
  if (clash !== undefined) throw new GiftjsError(`${sidePath}: '${clash}' disagrees with ${join(dir, ADAPTER_CONFIG)}`);
  return { ...raw, ...side };
}

/** Reads an adapter folder, attaches it to the model and loads its tensors. */
export function loadAdapter(dir: string, model: Module): AttachedAdapter {
  const configPath = join(dir, ADAPTER_CONFIG);
  const raw = readAdapterConfig(dir);
  if (raw.method === undefined && raw.peft_type !== undefined) {
    const method = methodForPeftType(String(raw.peft_type));
    if (!method) throw new GiftjsError(`${configPath}: peft_type ${JSON.stringify(raw.peft_type)} is not supported (giftjs reads PEFT's ${peftTypes().join(', ')} adapters and its own)`);
    raw.method = method.name;
  }
  if (typeof raw.method !== 'string') throw new GiftjsError(`${configPath}: no 'method' field (expected ${METHOD_NAMES.join(', ')})`);
  verifyWrittenFiles(dir, [ADAPTER_WEIGHTS]); // a flipped bit since giftjs wrote it is refused, not merged
  // Names under another naming of the model's modules (transformers 5's, as PEFT 0.21 saves them)
  // are read as the model's own; the config then targets exactly the modules the file adapts. Only a
  // model with such a naming needs the file's names before attaching (the config's errors come first otherwise).
  const naming = model.adapterNaming();
  let file = naming ? SafetensorsFile.open(join(dir, ADAPTER_WEIGHTS)) : null;
  const fileNameOf = new Map<string, string>();
  for (const n of file?.tensors.keys() ?? []) fileNameOf.set(renameTensor(n, naming!.fromSaved), n);
  if ([...fileNameOf].some(([ours, saved]) => ours !== saved) && raw.target_modules !== undefined) {
    const paths = loraModulePaths(fileNameOf.keys());
    if (paths.length > 0) raw.target_modules = paths;
  }
  let adapter: AttachedAdapter;
  try {
    adapter = attachAdapter(model, raw, 0, configPath);
  } catch (err) {
    file?.close();
    throw err;
  }
  if (!file) {
    file = SafetensorsFile.open(join(dir, ADAPTER_WEIGHTS));
    for (const n of file.tensors.keys()) fileNameOf.set(n, n);
  }
  const loaded: Tensor[] = [];
  const used = new Set<string>();
  try {
    adapter.loadTensors((ours) => {
      const name = fileNameOf.get(ours);
      if (name === undefined) return undefined;
      const t = file.readTensor(name);
      loaded.push(t);
      used.add(name);
      return t;
    }, file.path);
    // A tensor the config does not place (k_proj weights under a q_proj,v_proj config, a layer the
    // model lacks) is refused: dropping it would merge and export another adapter than the file's.
    const unused = [...file.tensors.keys()].filter((n) => !used.has(n));
    if (unused.length > 0) {
      throw new GiftjsError(`${file.path}: ${unused.length} tensor(s) that ${configPath} does not place on this model (${unused.slice(0, 3).join(', ')}${unused.length > 3 ? ', ...' : ''}); the config's target_modules, layers or modules_to_save and the weights disagree, or the adapter is for another model`);
    }
  } finally {
    file.close();
    for (const t of loaded) t.dispose();
  }
  return adapter;
}

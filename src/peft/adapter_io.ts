// Adapters on disk, as a folder: adapter_config.json (the method's config, the base model it was
// trained on, the giftjs version) and adapter_model.safetensors (the trainable tensors, F32).
// LoRA's config also carries PEFT's own fields so that Hugging Face PEFT can load the folder.
import { join } from 'node:path';
import { writeFileAtomic, writeFolderAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/hf_folder.js';
import { SafetensorsFile, saveSafetensors } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
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
}

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/**
 * Attaches a method to a model from a config object (CLI flags or a saved adapter_config.json);
 * `modules_to_save` (PEFT's name) adds modules trained in full, such as a new classifier head.
 */
export function attachAdapter(model: Module, rawConfig: Record<string, unknown>, seed = 0, source = 'adapter config'): AttachedAdapter {
  const method = peftMethod(String(rawConfig.method));
  const config = method.parseConfig(rawConfig, source);
  return withModulesToSave(model, method.attach(model, config, new Random(seed)), modulesToSave(rawConfig, source), source);
}

function adapterConfigJson(adapter: AttachedAdapter, base: BaseModelInfo, extra: Record<string, unknown>): Record<string, unknown> {
  const json: Record<string, unknown> = { ...adapter.config, base_model_name_or_path: base.path, base_architecture: base.architecture, giftjs_version: GIFTJS_VERSION, ...extra };
  // A method PEFT also has declares PEFT's fields, so that PEFT can load the folder.
  const peft = peftMethod(adapter.method).peftConfigFields?.(adapter.config, extra.task as AdapterTaskInfo | undefined);
  return peft ? Object.assign(json, peft) : json;
}

/**
 * Writes the adapter folder atomically (a crash leaves the previous folder, never half of one).
 * `extra` fields go into adapter_config.json (a classifier's labels, say).
 */
export function saveAdapter(dir: string, adapter: AttachedAdapter, base: BaseModelInfo, extra: Record<string, unknown> = {}): void {
  const tensors: Record<string, Tensor> = Object.fromEntries(adapter.namedTrainable());
  writeFolderAtomic(dir, (tmp) => {
    writeFileAtomic(join(tmp, ADAPTER_CONFIG), [`${JSON.stringify(adapterConfigJson(adapter, base, extra), null, 2)}\n`]);
    saveSafetensors(join(tmp, ADAPTER_WEIGHTS), tensors, { format: 'pt', giftjs_method: adapter.method });
  });
}

/** Reads an adapter folder, attaches it to the model and loads its tensors. */
export function loadAdapter(dir: string, model: Module): AttachedAdapter {
  const configPath = join(dir, ADAPTER_CONFIG);
  const raw = readJsonFile(configPath);
  if (raw.method === undefined && raw.peft_type !== undefined) {
    const method = methodForPeftType(String(raw.peft_type));
    if (!method) throw new GiftjsError(`${configPath}: peft_type ${JSON.stringify(raw.peft_type)} is not supported (giftjs reads PEFT's ${peftTypes().join(', ')} adapters and its own)`);
    raw.method = method.name;
  }
  if (typeof raw.method !== 'string') throw new GiftjsError(`${configPath}: no 'method' field (expected ${METHOD_NAMES.join(', ')})`);
  const adapter = attachAdapter(model, raw, 0, configPath);
  const file = SafetensorsFile.open(join(dir, ADAPTER_WEIGHTS));
  const loaded: Tensor[] = [];
  try {
    adapter.loadTensors((name) => {
      if (!file.tensors.has(name)) return undefined;
      const t = file.readTensor(name);
      loaded.push(t);
      return t;
    }, file.path);
  } finally {
    file.close();
    for (const t of loaded) t.dispose();
  }
  return adapter;
}

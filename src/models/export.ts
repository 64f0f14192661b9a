// Writes a model as a Hugging Face folder that transformers loads unchanged: the source
// config.json, weights in their source dtype, and the tokenizer and generation files copied;
// classifiers with their task architecture and label names.
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeFolderAtomic } from '../io/atomic.js';
import { saveSafetensors, type SafetensorsEntry } from '../io/safetensors.js';
import type { CausalLM } from './causal_lm.js';
import { readJsonFile } from '../io/hf_folder.js';
import type { Module } from '../nn/module.js';
import { GiftjsError } from '../errors.js';

/** The source folder's files a written model keeps: its tokenizer, chat templates (as transformers 5 saves them) and generation settings. */
const COPIED_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model', 'chat_template.jinja', 'additional_chat_templates', 'generation_config.json'];

function copySourceFiles(sourceDir: string, tmp: string, names: readonly string[]): void {
  for (const f of names) if (existsSync(join(sourceDir, f))) cpSync(join(sourceDir, f), join(tmp, f), { recursive: true });
}

/** Refuses to write a model with a NaN or infinite weight (a merge of a diverged adapter, say). */
function assertFiniteWeights(model: Module, outDir: string): void {
  const bad = model.namedParameters().filter(([, t]) => !t.toFloat32Array().every(Number.isFinite)).map(([n]) => n);
  if (bad.length > 0) {
    throw new GiftjsError(`not writing ${outDir}: weights ${bad.slice(0, 4).join(', ')}${bad.length > 4 ? ` and ${bad.length - 4} more` : ''} hold NaN or infinite values`);
  }
}

/** dtype: store every weight so (default: each tensor's dtype in the source checkpoint). */
export function exportPretrained(model: CausalLM, outDir: string, dtype?: 'F32' | 'BF16' | 'F16'): void {
  assertFiniteWeights(model, outDir);
  const entries: Record<string, SafetensorsEntry> = {};
  for (const [name, t] of model.namedParameters()) {
    const src = model.sourceDtypes.get(name);
    entries[name] = { tensor: t, dtype: dtype ?? (src === 'BF16' || src === 'F16' ? src : t.dtype === 'bfloat16' ? 'BF16' : t.dtype === 'float16' ? 'F16' : 'F32') };
  }
  const config = { ...model.config.raw };
  if (dtype) {
    // Written where the source wrote it: transformers 5's `dtype`, or 4's `torch_dtype`.
    const name = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' }[dtype];
    if ('dtype' in config) config.dtype = name;
    if ('torch_dtype' in config || !('dtype' in config)) config.torch_dtype = name;
  }
  writeFolderAtomic(outDir, (tmp) => {
    writeFileAtomic(join(tmp, 'config.json'), [`${JSON.stringify(config, null, 2)}\n`]);
    saveSafetensors(join(tmp, 'model.safetensors'), entries, { format: 'pt' });
    if (model.sourceDir) copySourceFiles(model.sourceDir, tmp, COPIED_FILES);
  });
}

/**
 * Writes a classifier (an encoder or ViT with its head, adapters merged) as a folder that loads back
 * as one: the source config.json with the task model's architecture and the label names, every
 * parameter in float32, and the tokenizer / image-processor files copied.
 */
export function exportClassifier(model: Module, sourceDir: string, outDir: string, architecture: string, labels: string[], problemType: string | null, extraConfig: Record<string, unknown> = {}): void {
  assertFiniteWeights(model, outDir);
  const config = readJsonFile(join(sourceDir, 'config.json'));
  const isTimm = typeof config.architecture === 'string';
  if (isTimm) {
    throw new GiftjsError(`${sourceDir}: a timm checkpoint; merging into timm's names is not supported (load it, merge, and the Hugging Face names are written instead: use a Hugging Face ViT folder)`);
  }
  Object.assign(config, {
    architectures: [architecture], num_labels: labels.length,
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])), label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
  });
  if (problemType) config.problem_type = problemType;
  Object.assign(config, extraConfig);
  writeFolderAtomic(outDir, (tmp) => {
    writeFileAtomic(join(tmp, 'config.json'), [`${JSON.stringify(config, null, 2)}\n`]);
    saveSafetensors(join(tmp, 'model.safetensors'), Object.fromEntries(model.namedParameters().map(([n, t]) => [n, { tensor: t, dtype: 'F32' as const }])), { format: 'pt' });
    copySourceFiles(sourceDir, tmp, [...COPIED_FILES, 'preprocessor_config.json']);
  });
}

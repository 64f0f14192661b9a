// The contract every PEFT method fulfils. The trainer, the CLI and the adapter I/O only ever talk
// to these interfaces, never to GIFT or LoRA by name.
import { allFinite } from '../ops/reduce.js';
import { targetRegExp, type TargetModules } from './targets.js';
import type { Module } from '../nn/module.js';
import type { Random } from '../tensor/random.js';
import { shapeString } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { GiftjsError } from '../errors.js';

export type MethodName = 'gift' | 'lora' | 'full' | 'bitfit' | 'head';

/** The fields every adapter_config.json carries, plus each method's own. */
export interface AdapterConfig {
  method: MethodName;
  [key: string]: unknown;
}

/** A method attached to a model: its trainable tensors and how to fold them into the weights. */
export interface AttachedAdapter {
  readonly method: MethodName;
  readonly config: AdapterConfig;
  /** Trainable tensors by the names they are saved under. */
  namedTrainable(): [string, Tensor][];
  /** Number of trainable values. */
  trainableCount(): number;
  /** A line per group/layer for `inspect`. */
  describe(): string[];
  /** Replaces trainable values from a saved adapter (shapes must match). */
  loadTensors(get: (name: string) => Tensor | undefined, source: string): void;
  /** Folds the adapter into the base weights; the model then computes the same without it. */
  merge(): void;
  /** Restores the weights merge() changed. */
  unmerge(): void;
  readonly merged: boolean;
}

/** What a saved adapter is for, as adapter_config.json records it ("task" field). */
export interface AdapterTaskInfo {
  type?: string;
}

export interface PeftMethod {
  readonly name: MethodName;
  /** The config fields the method reads (rank, target_modules, ...): a setting it does not read is refused, not ignored. */
  readonly settings: readonly string[];
  /** PEFT's peft_type for this method when PEFT has one ("LORA"): adapters of that type are read as this method. */
  readonly peftType?: string;
  /**
   * PEFT's own adapter_config.json fields for an adapter of this method, so that PEFT loads the
   * folder; omitted when PEFT has no such method.
   */
  peftConfigFields?(config: AdapterConfig, task: AdapterTaskInfo | undefined): Record<string, unknown>;
  /** Validates a config (from the CLI or adapter_config.json), filling defaults. */
  parseConfig(raw: Record<string, unknown>, source: string): AdapterConfig;
  /** Freezes the base model and attaches the method's trainable parts. */
  attach(model: Module, config: AdapterConfig, rng: Random): AttachedAdapter;
}

/** Freezes every parameter of a model (the base of every method but full fine-tuning). */
export function freezeAll(model: Module): void {
  for (const p of model.parameters()) p.requiresGrad = false;
}

/** Fills each named tensor from a saved one of the same name and shape (adapter loading). */
export function loadNamedTensors(tensors: [string, Tensor][], get: (name: string) => Tensor | undefined, source: string): void {
  for (const [name, t] of tensors) {
    const saved = get(name);
    if (!saved) throw new GiftjsError(`${source}: the adapter has no tensor '${name}'`);
    if (saved.shape.length !== t.rank || saved.shape.some((d, i) => d !== t.shape[i])) {
      throw new GiftjsError(`${source}: tensor '${name}' has shape ${shapeString(saved.shape)}, this model needs ${shapeString(t.shape)}`);
    }
    if (!allFinite(saved)) throw new GiftjsError(`${source}: tensor '${name}' holds NaN or infinite values; the adapter is unusable (was its training diverging?)`);
    t.assign(saved.read());
  }
}

export function countValues(tensors: [string, Tensor][]): number {
  return tensors.reduce((n, [, t]) => n + t.size, 0);
}

/**
 * giftjs's own fields that saveAdapter records beside a method's settings (adapterConfigFiles): read
 * back with the config, and no setting of any method.
 */
export const RECORDED_FIELDS: readonly string[] = ['base_architecture', 'giftjs_version', 'task'];

/** Reads an optional positive integer field of a config. */
export function configInt(raw: Record<string, unknown>, key: string, source: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new GiftjsError(`${source}: '${key}' must be a positive integer, got ${JSON.stringify(raw[key])}`);
  return v;
}

/** target_modules as PEFT reads it: a list of module names, or one string that is a regular expression. */
export function configTargets(raw: Record<string, unknown>, source: string): TargetModules {
  const t = raw.target_modules;
  if (typeof t === 'string' && t.length > 0) {
    targetRegExp(t, `${source}: target_modules`);
    return t;
  }
  if (!Array.isArray(t) || t.length === 0 || !t.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new GiftjsError(`${source}: 'target_modules' must be a non-empty list of module names or a regular expression, got ${JSON.stringify(t)}`);
  }
  return t as string[];
}

export function configLayers(raw: Record<string, unknown>, source: string): number[] | null {
  const l = raw.layers ?? null;
  if (l === null) return null;
  if (!Array.isArray(l) || !l.every((i) => Number.isInteger(i) && i >= 0)) throw new GiftjsError(`${source}: 'layers' must be null or a list of layer indices, got ${JSON.stringify(l)}`);
  return l as number[];
}

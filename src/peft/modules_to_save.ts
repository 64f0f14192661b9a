// PEFT's modules_to_save: modules trained in full beside a method (a new classification head next
// to GIFT or LoRA) and saved in the adapter under their own names. A method that already trains
// them (full, head) keeps them once.
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import { countValues, loadNamedTensors, type AdapterConfig, type AttachedAdapter } from './method.js';
import { GiftjsError } from '../errors.js';

class WithSavedModules implements AttachedAdapter {
  /** saved: the modules' tensors under the names they are saved as (prefix + the model's name). */
  constructor(private readonly inner: AttachedAdapter, readonly config: AdapterConfig, private readonly saved: [string, Tensor][], private readonly prefix: string) {}
  get method() {
    return this.inner.method;
  }
  get merged() {
    return this.inner.merged;
  }
  namedTrainable(): [string, Tensor][] {
    return [...this.inner.namedTrainable(), ...this.saved];
  }
  trainableCount(): number {
    return countValues(this.namedTrainable());
  }
  /** Trainable values of the method itself, without the saved modules. */
  methodCount(): number {
    return this.inner.trainableCount();
  }
  describe(): string[] {
    return [...this.inner.describe(), `trained in full (modules_to_save): ${this.saved.map(([n]) => n).join(', ')}: ${countValues(this.saved)} parameters`];
  }
  loadTensors(get: (name: string) => Tensor | undefined, source: string): void {
    this.inner.loadTensors(get, source);
    // Adapters written before the PEFT prefix (giftjs 0.1 LoRA heads) saved the model's own names.
    loadNamedTensors(this.saved, (name) => get(name) ?? (this.prefix && name.startsWith(this.prefix) ? get(name.slice(this.prefix.length)) : undefined), source);
  }
  merge(): void {
    this.inner.merge();
  }
  unmerge(): void {
    this.inner.unmerge();
  }
}

/** The configured modules_to_save of a config (PEFT's field), or []. */
export function modulesToSave(raw: Record<string, unknown>, source: string): string[] {
  const v = raw.modules_to_save ?? [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && s.length > 0)) throw new GiftjsError(`${source}: 'modules_to_save' must be a list of module names, got ${JSON.stringify(v)}`);
  return v as string[];
}

/**
 * Makes the named modules' parameters trainable and part of the adapter. `prefix` goes before their
 * names in the adapter file: PEFT saves modules_to_save under the wrapped model's names
 * ("base_model.model.classifier.weight"), so a method PEFT loads uses its prefix.
 */
export function withModulesToSave(model: Module, adapter: AttachedAdapter, names: string[], source: string, prefix = ''): AttachedAdapter {
  if (names.length === 0) return adapter;
  const already = new Set(adapter.namedTrainable().map(([n]) => n));
  const params = model.namedParameters();
  const saved: [string, Tensor][] = [];
  for (const name of names) {
    const chosen = params.filter(([n]) => n.startsWith(`${name}.`));
    if (chosen.length === 0) throw new GiftjsError(`${source}: modules_to_save names '${name}', which is no module of this model`);
    for (const [n, t] of chosen) {
      if (already.has(n)) continue;
      t.requiresGrad = true;
      saved.push([`${prefix}${n}`, t]);
    }
  }
  return new WithSavedModules(adapter, { ...adapter.config, modules_to_save: names }, saved, prefix);
}

/**
 * A task model's method config with its new head trained beside the method (modules_to_save), unless
 * the method trains the head anyway (full, head) or the config already names what to save.
 */
export function withTrainedHead(config: Record<string, unknown>, head = 'classifier'): Record<string, unknown> {
  if (['full', 'head'].includes(String(config.method)) || config.modules_to_save !== undefined) return { ...config };
  return { ...config, modules_to_save: [head] };
}

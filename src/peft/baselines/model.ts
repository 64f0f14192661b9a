// The baselines that train a model's own tensors rather than new ones: full fine-tuning (all
// parameters), BitFit (biases only) and head only. Their adapters are saved under the model's
// own tensor names; merging is a no-op because the weights are changed in place.
import type { Module } from '../../nn/module.js';
import type { Tensor } from '../../tensor/tensor.js';
import { countValues, freezeAll, loadNamedTensors, RECORDED_FIELDS, type AdapterConfig, type AttachedAdapter, type MethodName, type PeftMethod } from '../method.js';
import { GiftjsError } from '../../errors.js';

/** The parameters of a model's task head (Module.headModules, else "lm_head", "classifier", "score"). */
export function headParameterNames(model: Module): string[] {
  const heads = model.headModules() ?? ['lm_head', 'classifier', 'score'];
  return model.namedParameters().map(([n]) => n).filter((n) => heads.some((h) => n === h || n.startsWith(`${h}.`)));
}

class AttachedOwnTensors implements AttachedAdapter {
  readonly merged = true;
  constructor(readonly method: MethodName, readonly config: AdapterConfig, private readonly tensors: [string, Tensor][]) {}
  namedTrainable(): [string, Tensor][] {
    return this.tensors;
  }
  trainableCount(): number {
    return countValues(this.tensors);
  }
  describe(): string[] {
    return [`${this.method}: ${this.tensors.length} tensors, ${this.trainableCount()} parameters`];
  }
  loadTensors(get: (name: string) => Tensor | undefined, source: string): void {
    loadNamedTensors(this.tensors, get, source);
  }
  merge(): void {}
  unmerge(): void {}
}

// What a baseline's config may hold: no settings of its own, the modules trained beside it, and what
// an adapter folder records.
const OWN_TENSORS_FIELDS = new Set(['method', 'modules_to_save', 'base_model_name_or_path', ...RECORDED_FIELDS]);

function ownTensorsMethod(name: MethodName, select: (model: Module) => [string, Tensor][], emptyError: string): PeftMethod {
  return {
    name,
    settings: [],
    parseConfig: (raw, source) => {
      // A rank or target_modules had been taken and ignored: { method: 'full', target_modules: ['q_proj'] }
      // trained every tensor of the model.
      for (const [key, value] of Object.entries(raw)) {
        if (!OWN_TENSORS_FIELDS.has(key) && !(value == null || value === false)) {
          throw new GiftjsError(`${source}: '${key}' = ${JSON.stringify(value)} is not a setting of method '${name}', which trains the model's own tensors and has none (modules_to_save adds modules); remove it`);
        }
      }
      return { method: name };
    },
    attach(model: Module, config: AdapterConfig): AttachedAdapter {
      const chosen = select(model);
      if (chosen.length === 0) throw new GiftjsError(emptyError);
      freezeAll(model);
      for (const [, t] of chosen) t.requiresGrad = true;
      return new AttachedOwnTensors(name, config, chosen);
    },
  };
}

export const fullMethod = ownTensorsMethod('full', (m) => m.namedParameters(), 'full fine-tuning: the model has no parameters');
export const bitfitMethod = ownTensorsMethod('bitfit', (m) => m.namedParameters().filter(([n]) => n.endsWith('.bias')),
  'BitFit: this model has no bias parameters to train (Llama has none; Qwen2 and encoders do)');
export const headMethod = ownTensorsMethod('head', (m) => {
  const names = new Set(headParameterNames(m));
  return m.namedParameters().filter(([n]) => names.has(n));
}, 'head only: this model has no separate head (a tied LM head is the input embedding)');

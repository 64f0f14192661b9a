// LoRA attached to a model: an (A, B) pair per matched layer, saved under PEFT's tensor names
// (base_model.model.<path>.lora_A.weight) so that Hugging Face PEFT can load the adapter; with
// use_dora, DoRA's magnitude vector beside them (<path>.lora_magnitude_vector, as PEFT saves it).
import { getBackend } from '../../backend/index.js';
import { GiftjsError } from '../../errors.js';
import type { Module } from '../../nn/module.js';
import type { Random } from '../../tensor/random.js';
import { Tensor } from '../../tensor/tensor.js';
import { freezeAll, type AttachedAdapter, type PeftMethod } from '../method.js';
import { findTargetLinears, type TargetedLinear } from '../targets.js';
import { WeightDeltaAdapter, type MergeTarget } from '../merge.js';
import { loraScale, parseLoraConfig, patternValue, type LoraConfig } from './config.js';
import { LoraLinearAdapter, loraWeightDelta, type LoraWeights } from './layer.js';
import { DoraLinearAdapter, doraRowSquares, doraWeightDelta } from './dora.js';

interface LoraLayer {
  target: TargetedLinear;
  weights: LoraWeights;
  adapter: LoraLinearAdapter;
  /** DoRA's magnitude [out]; null for plain LoRA. */
  magnitude: Tensor | null;
}

class AttachedLora extends WeightDeltaAdapter {
  readonly method = 'lora' as const;
  constructor(readonly config: LoraConfig, readonly layers: LoraLayer[]) {
    super();
  }

  protected mergeTargets(): MergeTarget[] {
    return this.layers.map((l) => ({
      module: l.target.module, adapter: l.adapter,
      delta: () => (l.magnitude ? doraWeightDelta(l.target.module.weight, l.weights, l.magnitude) : loraWeightDelta(l.weights)),
    }));
  }

  namedTrainable(): [string, Tensor][] {
    return this.layers.flatMap((l) => [
      [`base_model.model.${l.target.path}.lora_A.weight`, l.weights.A],
      [`base_model.model.${l.target.path}.lora_B.weight`, l.weights.B],
      ...(l.magnitude ? [[`base_model.model.${l.target.path}.lora_magnitude_vector`, l.magnitude]] : []),
    ] as [string, Tensor][]);
  }

  describe(): string[] {
    const byTarget = new Map<string, number>();
    for (const l of this.layers) byTarget.set(l.target.target, (byTarget.get(l.target.target) ?? 0) + l.weights.A.size + l.weights.B.size + (l.magnitude?.size ?? 0));
    return [...byTarget].map(([t, n]) => {
      const layers = this.layers.filter((l) => l.target.target === t);
      const ranks = [...new Set(layers.map((l) => l.weights.A.shape[0]!))];
      return `${this.config.use_dora ? 'dora' : 'lora'} '${t}': ${layers.length} layers, rank ${ranks.join('/')}: ${n} parameters`;
    });
  }

}

export const loraMethod: PeftMethod = {
  name: 'lora',
  settings: ['rank', 'alpha', 'target_modules', 'layers', 'dropout', 'use_dora'],
  peftType: 'LORA',
  parseConfig: parseLoraConfig,
  peftConfigFields(raw, task) {
    const c = raw as LoraConfig;
    // PEFT's task types: a language model, a sequence classifier; none for an image classifier.
    const taskType = task?.type === 'seqcls' ? 'SEQ_CLS' : task?.type === 'imgcls' ? null : 'CAUSAL_LM';
    return {
      peft_type: 'LORA', task_type: taskType, r: c.rank, lora_alpha: c.alpha, lora_dropout: c.dropout,
      target_modules: c.target_modules, layers_to_transform: c.layers, bias: 'none', fan_in_fan_out: false, inference_mode: true,
      use_rslora: c.use_rslora ?? false, use_dora: c.use_dora ?? false, rank_pattern: c.rank_pattern ?? {}, alpha_pattern: c.alpha_pattern ?? {}, exclude_modules: c.exclude_modules ?? null,
    };
  },
  attach(model: Module, rawConfig, rng: Random): AttachedAdapter {
    const config = rawConfig as LoraConfig;
    freezeAll(model);
    const layers = findTargetLinears(model, config.target_modules, config.layers, config.exclude_modules).map((target) => {
      const inF = target.module.inFeatures;
      const most = Math.min(inF, target.module.outFeatures);
      const rank = patternValue(config.rank_pattern, target.path, config.rank);
      const alpha = patternValue(config.alpha_pattern, target.path, config.alpha);
      if (rank > most) throw new GiftjsError(`LoRA rank ${rank} is larger than ${target.path} allows (${target.module.outFeatures} x ${inF}: at most ${most})`);
      const bound = 1 / Math.sqrt(inF); // kaiming_uniform_(a = sqrt(5)), as PEFT initialises A
      const A = Tensor.uniform([rank, inF], rng, -bound, bound).requireGrad().keep();
      const B = Tensor.zeros([target.module.outFeatures, rank]).requireGrad().keep();
      const weights = { A, B, scale: loraScale(config, rank, alpha) };
      // DoRA's magnitude starts at the rows' norms of W (B is zero), so training starts at the pretrained model
      // (a model of shapes only, on the meta backend, has no norms to take: its magnitude is a shape too).
      let adapter = new LoraLinearAdapter(weights, config.dropout, rng);
      let magnitude: Tensor | null = null;
      if (config.use_dora) {
        const space = getBackend().memory.space;
        // The rows' norms are taken on the host (a square root of [out] values per forward); WebGPU reads memory only asynchronously.
        if (space === 'webgpu') throw new GiftjsError('DoRA (use_dora) runs on the CPU backends (native, ref); the webgpu backend trains LoRA without it');
        const shapesOnly = space === 'meta';
        const out = target.module.outFeatures;
        const rowSquares = (shapesOnly ? Tensor.zeros([out]) : doraRowSquares(target.module.weight)).keep();
        magnitude = (shapesOnly ? Tensor.zeros([out]) : Tensor.fromArray(rowSquares.read().map(Math.sqrt))).requireGrad().keep();
        adapter = new DoraLinearAdapter(weights, magnitude, rowSquares, config.dropout, rng);
      }
      target.module.adapter = adapter;
      return { target, weights, adapter, magnitude };
    });
    return new AttachedLora(config, layers);
  },
};

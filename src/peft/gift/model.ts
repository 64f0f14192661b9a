// GIFT attached to a model: find the target layers, make one (phi, psi) pair per group, hook
// every layer of a group to its pair; merge folds W_hat into the weights.
import { GiftjsError } from '../../errors.js';
import type { Module } from '../../nn/module.js';
import type { Random } from '../../tensor/random.js';
import { Tensor } from '../../tensor/tensor.js';
import { freezeAll, type AttachedAdapter, type PeftMethod } from '../method.js';
import { findTargetLinears, type TargetedLinear } from '../targets.js';
import { WeightDeltaAdapter, type MergeTarget } from '../merge.js';
import { parseGiftConfig, type GiftConfig } from './config.js';
import { groupGiftLayers } from './groups.js';
import { GiftLinearAdapter, giftWeightDelta, type GiftPair } from './layer.js';

export class AttachedGift extends WeightDeltaAdapter {
  readonly method = 'gift' as const;

  constructor(readonly config: GiftConfig, readonly pairs: GiftPair[], readonly members: Map<string, TargetedLinear[]>) {
    super();
  }

  /** Each layer's W_hat = W + s W phi^T psi^T, from its own weight and its group's pair. */
  protected mergeTargets(): MergeTarget[] {
    return this.pairs.flatMap((p) => this.members.get(p.group)!.map((l) => ({
      module: l.module,
      adapter: new GiftLinearAdapter(p),
      delta: () => giftWeightDelta(l.module.weight.toFloat32(), p),
    })));
  }

  namedTrainable(): [string, Tensor][] {
    return this.pairs.flatMap((p) => [[`gift.${p.group}.phi`, p.phi], [`gift.${p.group}.psi`, p.psi]] as [string, Tensor][]);
  }

  describe(): string[] {
    const split = [...this.members.keys()].filter((g) => /_in\d+$/.test(g)).map((g) => g.replace(/_in\d+$/, ''));
    const notes = [...new Set(split)].map((t) => `'${t}' layers take inputs of different sizes, so each size is its own GIFT group (phi, psi need one input size)`);
    return [...this.pairs.map((p) => {
      const layers = this.members.get(p.group)!;
      const inF = p.phi.shape[1]!;
      return `gift group '${p.group}': ${layers.length} layers (${[...new Set(layers.map((l) => l.target))].join(', ')}), in ${inF}, rank ${p.phi.shape[0]}: ${2 * inF * p.phi.shape[0]!} parameters`;
    }), ...notes];
  }

}

export const giftMethod: PeftMethod = {
  name: 'gift',
  settings: ['rank', 'alpha', 'target_modules', 'layers', 'share'],
  parseConfig: parseGiftConfig,
  attach(model: Module, rawConfig, rng: Random): AttachedAdapter {
    const config = rawConfig as GiftConfig;
    freezeAll(model);
    const targets = findTargetLinears(model, config.target_modules, config.layers);
    const groups = groupGiftLayers(targets, config.share, (t) => t.target, (t) => t.module.inFeatures);
    const s = config.alpha / config.rank;
    const pairs: GiftPair[] = [];
    for (const [group, members] of groups) {
      const inF = members[0]!.module.inFeatures;
      if (config.rank > inF) {
        throw new GiftjsError(`GIFT rank ${config.rank} is larger than the input size ${inF} of group '${group}' (phi is [rank, in]); choose a rank <= ${inF}`);
      }
      // phi as torch.nn.Linear(in, r) initialises it (Kaiming-uniform, a = sqrt(5): bound 1/sqrt(in));
      // psi at zero, so the adapted model starts exactly at the pretrained one.
      const bound = 1 / Math.sqrt(inF);
      const phi = Tensor.uniform([config.rank, inF], rng, -bound, bound).requireGrad().keep();
      const psi = Tensor.zeros([inF, config.rank]).requireGrad().keep();
      phi.name = `gift.${group}.phi`;
      psi.name = `gift.${group}.psi`;
      const pair: GiftPair = { group, phi, psi, scale: s };
      pairs.push(pair);
      for (const m of members) m.module.adapter = new GiftLinearAdapter(pair);
    }
    return new AttachedGift(config, pairs, groups);
  },
};

// Trainable-parameter counts of GIFT and LoRA from layer shapes alone (the paper's formulas):
//   GIFT: 2 * in * r per group of layers sharing one (phi, psi), however many layers it holds;
//   LoRA: r * (in + out) for every adapted layer.
import type { LinearShape } from '../models/llama/shapes.js';
import { matchTarget } from './targets.js';
import { giftGroupsParameterCount, groupGiftLayers, type GiftShare } from './gift/groups.js';

function matches(shapes: LinearShape[], targets: readonly string[], layers: readonly number[] | null): (LinearShape & { target: string })[] {
  const out: (LinearShape & { target: string })[] = [];
  for (const s of shapes) {
    const m = matchTarget(s.path, targets, layers);
    if (m) out.push({ ...s, target: m.target });
  }
  return out;
}

export function giftParameterCount(shapes: LinearShape[], targets: readonly string[], rank: number, layers: readonly number[] | null = null, share: GiftShare = 'target'): number {
  const inFeatures = (m: LinearShape) => m.inFeatures;
  const groups = groupGiftLayers(matches(shapes, targets, layers), share, (m) => m.target, inFeatures);
  return giftGroupsParameterCount(groups, rank, inFeatures);
}

export function loraParameterCount(shapes: LinearShape[], targets: readonly string[], rank: number, layers: readonly number[] | null = null): number {
  return matches(shapes, targets, layers).reduce((n, m) => n + rank * (m.inFeatures + m.outFeatures), 0);
}

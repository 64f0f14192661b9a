// Trainable-parameter counts of GIFT and LoRA from layer shapes alone (the paper's formulas):
//   GIFT: 2 * in * r per group of layers sharing one (phi, psi), however many layers it holds;
//   LoRA: r * (in + out) for every adapted layer.
import type { LinearShape } from '../models/llama/shapes.js';
import { matchTarget } from './targets.js';

function matches(shapes: LinearShape[], targets: readonly string[], layers: readonly number[] | null): (LinearShape & { target: string })[] {
  const out: (LinearShape & { target: string })[] = [];
  for (const s of shapes) {
    const m = matchTarget(s.path, targets, layers);
    if (m) out.push({ ...s, target: m.target });
  }
  return out;
}

export function giftParameterCount(shapes: LinearShape[], targets: readonly string[], rank: number, layers: readonly number[] | null = null, share: 'target' | 'input-size' = 'target'): number {
  const groups = new Map<string, number>();
  for (const m of matches(shapes, targets, layers)) groups.set(share === 'target' ? m.target : `in${m.inFeatures}`, m.inFeatures);
  return [...groups.values()].reduce((n, inF) => n + 2 * inF * rank, 0);
}

export function loraParameterCount(shapes: LinearShape[], targets: readonly string[], rank: number, layers: readonly number[] | null = null): number {
  return matches(shapes, targets, layers).reduce((n, m) => n + rank * (m.inFeatures + m.outFeatures), 0);
}

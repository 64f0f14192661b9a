// Folding an adapter into the Linear weights it changes, and back. Shared by every method that
// adds a delta to a weight (GIFT, LoRA): merge keeps each weight's values as they were, so unmerge
// restores them bit for bit (subtracting the delta again would not, in float arithmetic).
import type { Linear, LinearAdapter } from '../nn/layers.js';
import { add } from '../ops/elementwise.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';

export interface MergeTarget {
  module: Linear;
  /** The adapter the layer computes with while unmerged. */
  adapter: LinearAdapter;
  /** The layer's weight change [out, in] in float32 (a new tensor; merge disposes it). */
  delta(): Tensor;
}

export class WeightMerge {
  private originals: Tensor[] = [];
  merged = false;

  constructor(private readonly targets: () => MergeTarget[]) {}

  merge(): void {
    if (this.merged) return;
    noGrad(() => {
      for (const t of this.targets()) {
        const weight = t.module.weight;
        const original = weight.toFloat32().keep(); // float32 whatever the storage: exact for bfloat16 too
        const delta = tidy(() => t.delta()); // intermediates of the delta are released here
        const sum = add(original, delta);
        weight.assign(sum.data); // rounded once when the weight is stored as bfloat16
        sum.dispose();
        delta.dispose();
        this.originals.push(original);
        t.module.adapter = null;
      }
    });
    this.merged = true;
  }

  unmerge(): void {
    if (!this.merged) return;
    this.targets().forEach((t, i) => {
      const original = this.originals[i]!;
      t.module.weight.assign(original.data);
      original.dispose();
      t.module.adapter = t.adapter;
    });
    this.originals = [];
    this.merged = false;
  }
}

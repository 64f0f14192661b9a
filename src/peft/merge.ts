// Folding an adapter into the Linear weights it changes, and back. Shared by every method that
// adds a delta to a weight (GIFT, LoRA): merge keeps each weight's values as they were, so unmerge
// restores them bit for bit (subtracting the delta again would not, in float arithmetic).
// WeightDeltaAdapter is what such a method's attached adapter has in common.
import type { Linear, LinearAdapter } from '../nn/layers.js';
import { add } from '../ops/elementwise.js';
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { QuantizedMatrix } from '../formats/quantized.js';
import { float32ToBf16 } from '../formats/dtype.js';
import { countValues, loadNamedTensors, type AdapterConfig, type AttachedAdapter, type MethodName } from './method.js';
import { GiftjsError } from '../errors.js';

export interface MergeTarget {
  module: Linear;
  /** The adapter the layer computes with while unmerged. */
  adapter: LinearAdapter;
  /** The layer's weight change [out, in] in float32 (a new tensor; merge disposes it). */
  delta(): Tensor;
}

export class WeightMerge {
  /** Each weight's values before the merge: float32 (exact for bfloat16 too), or its quantized matrix. */
  private originals: (Tensor | QuantizedMatrix)[] = [];
  merged = false;

  constructor(private readonly targets: () => MergeTarget[]) {}

  /**
   * A quantized weight cannot hold the sum: it becomes bfloat16, rounded once from its dequantized
   * values plus the delta (as PEFT merges into a dequantized QLoRA base).
   */
  merge(): void {
    if (this.merged) return;
    noGrad(() => {
      for (const t of this.targets()) {
        const weight = t.module.weight;
        const quantized = weight.quantized;
        const values = weight.toFloat32().keep(); // float32 whatever the storage (dequantized when quantized)
        const delta = tidy(() => t.delta()); // intermediates of the delta are released here
        const sum = add(values, delta);
        if (quantized) weight.adoptBf16Bits(float32ToBf16(sum.read()));
        else weight.assign(sum.read()); // rounded once when the weight is stored as bfloat16
        sum.dispose();
        delta.dispose();
        if (quantized) values.dispose();
        this.originals.push(quantized ?? values);
        t.module.adapter = null;
      }
    });
    this.merged = true;
  }

  unmerge(): void {
    if (!this.merged) return;
    // An adapter attached since the merge would be displaced, and its layers' weights restored under it.
    const taken = this.targets().filter((t) => t.module.adapter !== null);
    if (taken.length > 0) throw new GiftjsError(`unmerge: ${taken.length} of this adapter's layers carry another adapter attached since the merge; load the model again to unmerge`);
    this.targets().forEach((t, i) => {
      const original = this.originals[i]!;
      if (original instanceof QuantizedMatrix) {
        t.module.weight.adoptQuantized(original);
      } else {
        t.module.weight.assign(original.read());
        original.dispose();
      }
      t.module.adapter = t.adapter;
    });
    this.originals = [];
    this.merged = false;
  }
}

/** An attached adapter whose trainable tensors generate a delta per targeted Linear weight. */
export abstract class WeightDeltaAdapter implements AttachedAdapter {
  abstract readonly method: MethodName;
  abstract readonly config: AdapterConfig;
  private readonly folding = new WeightMerge(() => this.mergeTargets());

  abstract namedTrainable(): [string, Tensor][];
  abstract describe(): string[];
  /** Every targeted layer with its delta, in a fixed order. */
  protected abstract mergeTargets(): MergeTarget[];

  trainableCount(): number {
    return countValues(this.namedTrainable());
  }

  loadTensors(get: (name: string) => Tensor | undefined, source: string): void {
    loadNamedTensors(this.namedTrainable(), get, source);
  }

  get merged(): boolean {
    return this.folding.merged;
  }

  merge(): void {
    this.folding.merge();
  }

  unmerge(): void {
    this.folding.unmerge();
  }
}

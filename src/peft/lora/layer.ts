// LoRA's change to one Linear: y = x W^T + b + s * (dropout(x) A^T) B^T, A [r, in], B [out, r].
import type { Linear, LinearAdapter } from '../../nn/layers.js';
import { dropout } from '../../ops/dropout.js';
import { add, scale } from '../../ops/elementwise.js';
import { matmul } from '../../ops/matmul.js';
import { Random as RandomClass, type Random } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';

export interface LoraWeights {
  A: Tensor;
  B: Tensor;
  scale: number;
}

export class LoraLinearAdapter implements LinearAdapter {
  constructor(readonly w: LoraWeights, private readonly dropoutP: number, private rng: Random) {}
  /** Restarts the dropout masks from a seed (the trainer does this every step, so resuming is exact). */
  reseed(seed: number): void {
    this.rng = new RandomClass(seed);
  }
  forward(x: Tensor, base: Linear): Tensor {
    // Dropout follows the mode of the layer it is attached to (the model's train() / eval()).
    const xd = this.dropoutP > 0 ? dropout(x, this.dropoutP, this.rng, base.training) : x;
    const low = matmul(matmul(xd, this.w.A, { transposeB: true }), this.w.B, { transposeB: true });
    return add(base.baseForward(x), this.w.scale === 1 ? low : scale(low, this.w.scale));
  }
}

/** s * B @ A, the update LoRA adds to W. */
export function loraWeightDelta(w: LoraWeights): Tensor {
  const d = matmul(w.B, w.A);
  return w.scale === 1 ? d : scale(d, w.scale);
}

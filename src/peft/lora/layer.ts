// LoRA's change to one Linear: y = x W^T + b + s * (dropout(x) A^T) B^T, A [r, in], B [out, r].
import type { Linear, LinearAdapter } from '../../nn/layers.js';
import { dropout } from '../../ops/dropout.js';
import { scale } from '../../ops/elementwise.js';
import { addmm, matmul } from '../../ops/matmul.js';
import { Random as RandomClass, type Random } from '../../tensor/random.js';
import type { Tensor } from '../../tensor/tensor.js';

export interface LoraWeights {
  A: Tensor;
  B: Tensor;
  scale: number;
}

export class LoraLinearAdapter implements LinearAdapter {
  constructor(readonly w: LoraWeights, protected readonly dropoutP: number, protected rng: Random) {}
  /** Restarts the dropout masks from a seed (the trainer does this every step, so resuming is exact). */
  reseed(seed: number): void {
    this.rng = new RandomClass(seed);
  }
  randomSource(): Random | null {
    return this.dropoutP > 0 ? this.rng : null;
  }
  forward(x: Tensor, base: Linear): Tensor {
    // Dropout follows the mode of the layer it is attached to (the model's train() / eval()).
    const xd = this.dropoutP > 0 ? dropout(x, this.dropoutP, this.rng, base.training) : x;
    // The up projection accumulates onto the base layer's output (one GEMM, beta = 1).
    const down = matmul(xd.rank === 1 ? xd.view([1, xd.size]) : xd, this.w.A, { transposeB: true }); // [..., r]
    const y = base.baseForward(x);
    return addmm(y, x.rank === 1 ? down.view([this.w.A.shape[0]!]) : down, this.w.B, this.w.scale, { transposeB: true });
  }
}

/** s * B @ A, the update LoRA adds to W. */
export function loraWeightDelta(w: LoraWeights): Tensor {
  const d = matmul(w.B, w.A);
  return w.scale === 1 ? d : scale(d, w.scale);
}

// GIFT's change to one Linear. The group's shared pair (phi [r, in], psi [in, r]) generates the
// layer's weight from its own pretrained weight,
//     W_hat = W + s * W @ phi^T @ psi^T,
// and training uses the equivalent input form, which never builds the [out, in] delta:
//     y = (x + s * (x @ psi) @ phi) @ W^T + b.
import type { Linear, LinearAdapter } from '../../nn/layers.js';
import { scale } from '../../ops/elementwise.js';
import { addmm, matmul } from '../../ops/matmul.js';
import type { Tensor } from '../../tensor/tensor.js';

/** The trainable pair shared by a group of layers. */
export interface GiftPair {
  group: string;
  phi: Tensor;
  psi: Tensor;
  scale: number;
}

/** x + s * (x @ psi) @ phi : the rank-r edit of a layer's input (the back-projection and the
 * addition are one GEMM accumulating onto x). */
export function giftEditInput(x: Tensor, pair: GiftPair): Tensor {
  const low = matmul(x.rank === 1 ? x.view([1, x.size]) : x, pair.psi); // [..., r]
  return addmm(x, x.rank === 1 ? low.view([pair.psi.shape[1]!]) : low, pair.phi, pair.scale);
}

export class GiftLinearAdapter implements LinearAdapter {
  constructor(readonly pair: GiftPair) {}
  forward(x: Tensor, base: Linear): Tensor {
    return base.baseForward(giftEditInput(x, this.pair));
  }
}

/** s * W @ phi^T @ psi^T for one layer (used by merge, and by tests as the authors' form). */
export function giftWeightDelta(weight: Tensor, pair: GiftPair): Tensor {
  const wPhi = matmul(weight, pair.phi, { transposeB: true }); // [out, r]
  const delta = matmul(wPhi, pair.psi, { transposeB: true }); // [out, in]
  return pair.scale === 1 ? delta : scale(delta, pair.scale);
}

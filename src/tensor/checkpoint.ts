// Activation checkpointing: run a block without keeping its intermediate activations, and
// recompute them during the backward pass. Memory for long sequences drops from every
// activation of every block to the blocks' inputs, for one extra forward per block, less what no
// backward reads (the block's output and its last projection: withDeferredValues).
//
// Parameters inside the block receive their gradients during the recomputation (they are leaves,
// so the inner backward accumulates into .grad directly); the block's inputs get theirs back
// through the node, like any op. Randomness inside the block (dropout) is drawn again on
// recomputation: the generators it draws from are given, and restored to where they stood before the
// forward, so the recomputation draws the forward's masks (a generator not given draws new ones, and
// the gradient is then of another function than the loss).
import { isGradEnabled, markValueNeeded, noGrad, withDeferredValues, withGrad } from './autograd.js';
import { tidy } from './memory.js';
import type { Random } from './random.js';
import type { Tensor } from './tensor.js';

/**
 * `afterUse` runs after each use of the block: its forward, with or without a graph (a held-out
 * evaluation), and its recomputed backward (a model releasing the block's mapped weights).
 * `randomness`: every generator the block draws from (randomSourcesOf).
 */
export function checkpoint(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], afterUse?: () => void, randomness: Random[] = []): Tensor {
  if (!isGradEnabled()) {
    const out = fn(...inputs);
    afterUse?.();
    return out;
  }
  const states = randomness.map((r) => r.saveState());
  // The block's own activations are released when this scope ends; only the output survives.
  const out = tidy(() => noGrad(() => fn(...inputs)));
  afterUse?.();
  // The block may hold trainable parameters even when no input needs a gradient, so the
  // output always takes part in backward while recording is on.
  out.requiresGrad = true;
  markValueNeeded(...inputs); // the recomputation reads them
  out.gradFn = {
    op: 'checkpoint',
    inputs,
    saved: [],
    reads: [], // (the inputs are marked above: kept until their scope ends)
    backward: (g, needs) =>
      tidy(() =>
        withGrad(() => {
          const copies = inputs.map((x, i) => {
            const c = x.detach();
            c.requiresGrad = needs[i] ?? false;
            return c;
          });
          randomness.forEach((r, i) => r.restoreState(states[i]!));
          // Recomputed with deferred values: the output and whatever only it reads are never computed.
          const again = withDeferredValues(() => fn(...copies));
          again.backward(g);
          afterUse?.();
          return copies.map((c, i) => {
            if (!needs[i]) return null;
            const grad = c.grad ?? null;
            c.grad = null;
            return grad;
          });
        }),
      ),
  };
  return out;
}

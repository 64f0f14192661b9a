// One GIFT step's loss and adapter gradients on a model, with fixed random adapter values: what the
// stored-dtype tests compare between a model holding its matrices one way (quantized, float16) and
// the float32 model holding the same values.
import { setBf16Compute } from '../../src/backend/index.js';
import { shiftLabels, type CausalLM } from '../../src/models/causal_lm.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { attachAdapter } from '../../src/peft/adapter_io.js';
import type { AttachedAdapter } from '../../src/peft/method.js';
import { tidy } from '../../src/tensor/memory.js';
import { Random } from '../../src/tensor/random.js';

/** Ten ids as a batch of 2 x 5. */
export const STEP_IDS = [1, 40, 7, 80, 22, 5, 63, 11, 2, 90];

export function giftLossAndGrads(model: CausalLM, bf16Dot = false): { gift: AttachedAdapter; loss: number; grads: Float32Array[] } {
  const gift = attachAdapter(model, { method: 'gift', rank: 4, target_modules: ['q_proj', 'v_proj'] }, 3);
  const r = new Random(4);
  for (const [, t] of gift.namedTrainable()) for (let i = 0; i < t.size; i++) t.data[i] = 0.3 * r.normal();
  setBf16Compute(bf16Dot);
  try {
    const loss = tidy(() => {
      const l = crossEntropy(model.forward(STEP_IDS, 2, 5), shiftLabels(STEP_IDS, 2, 5));
      l.backward();
      return l.item();
    });
    return { gift, loss, grads: gift.namedTrainable().map(([, t]) => t.grad!.toFloat32Array()) };
  } finally {
    setBf16Compute(false);
  }
}

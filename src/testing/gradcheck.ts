// gradcheck: compares the gradients autograd computes with central finite differences.
//
// The scalar checked is L(x) = sum(fn(x) * R) for a fixed random R, so every output element
// contributes with its own weight and a wrong gradient cannot cancel out. L is accumulated in
// float64; the ops themselves run in float32, which is why eps is large-ish and the tolerances
// are relative to the gradient's scale.
import { noGrad } from '../tensor/autograd.js';
import { tidy } from '../tensor/memory.js';
import { Random } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { GiftjsError } from '../errors.js';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-2: float32 arithmetic needs a large step). */
  eps?: number;
  /** Allowed |analytic - numeric| <= atol + rtol * max(|numeric|, scale). */
  atol?: number;
  rtol?: number;
  /** At most this many elements are probed per input (chosen at random); default 64. */
  maxProbesPerInput?: number;
  seed?: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** Largest |analytic - numeric| seen, and where. */
  maxError: number;
  failures: string[];
  probes: number;
}

export function gradcheck(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], options: GradcheckOptions = {}): GradcheckResult {
  const eps = options.eps ?? 1e-2;
  const atol = options.atol ?? 1e-3;
  const rtol = options.rtol ?? 1e-2;
  const maxProbes = options.maxProbesPerInput ?? 64;
  const rng = new Random(options.seed ?? 1234);

  return tidy(() => {
    const probeOutput = noGrad(() => fn(...inputs));
    const weights = Tensor.uniform(probeOutput.shape, rng, -1, 1);
    const w = weights.data;
    const objective = (): number =>
      noGrad(() => {
        const out = fn(...inputs).data;
        let s = 0;
        for (let i = 0; i < out.length; i++) s += out[i]! * w[i]!;
        return s;
      });

    for (const x of inputs) x.zeroGrad();
    const out = fn(...inputs);
    if (!out.requiresGrad) throw new GiftjsError('gradcheck: the output does not depend on any input that requires a gradient');
    out.backward(weights);

    const failures: string[] = [];
    let maxError = 0;
    let probes = 0;
    inputs.forEach((x, k) => {
      if (!x.requiresGrad) return;
      const analytic = x.grad?.data ?? new Float32Array(x.size);
      let scale = 0;
      for (let i = 0; i < analytic.length; i++) scale = Math.max(scale, Math.abs(analytic[i]!));
      const positions = x.size <= maxProbes ? [...Array(x.size).keys()] : Array.from({ length: maxProbes }, () => rng.int(x.size));
      for (const i of positions) {
        const original = x.data[i]!;
        x.data[i] = original + eps;
        const plus = objective();
        x.data[i] = original - eps;
        const minus = objective();
        x.data[i] = original;
        const numeric = (plus - minus) / (2 * eps);
        const err = Math.abs(analytic[i]! - numeric);
        maxError = Math.max(maxError, err);
        probes++;
        if (err > atol + rtol * Math.max(Math.abs(numeric), scale * 0.1)) {
          failures.push(`input ${k} ${x.describe()} element ${i}: analytic ${analytic[i]} vs numeric ${numeric}`);
        }
      }
      x.zeroGrad();
    });
    return { ok: failures.length === 0, maxError, failures, probes };
  });
}

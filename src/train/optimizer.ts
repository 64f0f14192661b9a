// AdamW (Loshchilov & Hutter, decoupled weight decay) as torch.optim.AdamW computes it, with
// parameter groups (a trained head may have its own learning rate and weight decay) and a state
// that a checkpoint can save and restore exactly.
import type { Tensor } from '../tensor/tensor.js';
import { GiftjsError } from '../errors.js';

export interface ParamGroup {
  /** Parameters with the names their optimizer state is saved under. */
  params: [string, Tensor][];
  /** Multiplies the scheduled learning rate (1 for the main group). */
  lrScale: number;
  weightDecay: number;
}

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Optimizer steps taken (for bias correction). */
  step = 0;
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();

  constructor(readonly groups: ParamGroup[], options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    for (const g of groups) {
      for (const [name, p] of g.params) {
        this.m.set(name, new Float32Array(p.size));
        this.v.set(name, new Float32Array(p.size));
      }
    }
  }

  /** One update with learning rate lr (scaled per group); parameters without a gradient are skipped. */
  update(lr: number): void {
    this.step++;
    const bc1 = 1 - this.beta1 ** this.step;
    const bc2 = 1 - this.beta2 ** this.step;
    const { beta1, beta2, eps } = this;
    for (const g of this.groups) {
      const glr = lr * g.lrScale;
      const decay = 1 - glr * g.weightDecay;
      const stepSize = glr / bc1;
      const sqrtBc2 = Math.sqrt(bc2);
      for (const [name, p] of g.params) {
        if (!p.grad) continue;
        const w = p.data;
        const grad = p.grad.data;
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        for (let i = 0; i < w.length; i++) {
          const gi = grad[i]!;
          const mi = (m[i] = beta1 * m[i]! + (1 - beta1) * gi);
          const vi = (v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi);
          w[i] = w[i]! * decay - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
        }
      }
    }
  }

  /** The moments by parameter name, for a checkpoint. */
  stateTensors(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [n, a] of this.m) out.set(`optimizer.m.${n}`, a);
    for (const [n, a] of this.v) out.set(`optimizer.v.${n}`, a);
    return out;
  }

  loadState(step: number, get: (name: string) => Float32Array | undefined, source: string): void {
    this.step = step;
    for (const [prefix, map] of [['optimizer.m.', this.m], ['optimizer.v.', this.v]] as const) {
      for (const [n, a] of map) {
        const saved = get(prefix + n);
        if (!saved || saved.length !== a.length) throw new GiftjsError(`${source}: optimizer state '${prefix}${n}' is missing or has the wrong size`);
        a.set(saved);
      }
    }
  }
}

/** Scales all gradients so that their global L2 norm is at most maxNorm; returns the norm before. */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  let sq = 0;
  for (const p of params) {
    if (!p.grad) continue;
    const g = p.grad.data;
    for (let i = 0; i < g.length; i++) sq += g[i]! * g[i]!;
  }
  const norm = Math.sqrt(sq);
  if (maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const p of params) {
      if (!p.grad) continue;
      const g = p.grad.data;
      for (let i = 0; i < g.length; i++) g[i]! *= s;
    }
  }
  return norm;
}

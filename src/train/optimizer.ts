// AdamW (Loshchilov & Hutter, decoupled weight decay) as torch.optim.AdamW computes it, with
// parameter groups (a trained head may have its own learning rate and weight decay) and a state
// that a checkpoint can save and restore exactly.
import { getBackend } from '../backend/index.js';
import { allFinite } from '../ops/reduce.js';
import { Tensor } from '../tensor/tensor.js';
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
  /** First and second moments, one backend tensor per parameter (kept past any scope). */
  private readonly m = new Map<string, Tensor>();
  private readonly v = new Map<string, Tensor>();

  // Refused as PyTorch's AdamW refuses them: a beta of 1 divides the step by 0, and two parameters of
  // one name would share (and corrupt) one pair of moments.
  constructor(readonly groups: ParamGroup[], options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    for (const [name, beta] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(beta >= 0 && beta < 1)) throw new GiftjsError(`AdamW: ${name} must be in [0, 1), got ${beta}`);
    }
    if (!(this.eps >= 0 && Number.isFinite(this.eps))) throw new GiftjsError(`AdamW: eps must be a finite number >= 0, got ${this.eps}`);
    for (const g of groups) {
      if (!(g.lrScale >= 0 && Number.isFinite(g.lrScale))) throw new GiftjsError(`AdamW: a group's lrScale must be a finite number >= 0, got ${g.lrScale}`);
      if (!(g.weightDecay >= 0 && Number.isFinite(g.weightDecay))) throw new GiftjsError(`AdamW: a group's weightDecay must be a finite number >= 0, got ${g.weightDecay}`);
      for (const [name, p] of g.params) {
        if (this.m.has(name)) throw new GiftjsError(`AdamW: two parameters are named '${name}'; each needs its own name (its moments are kept and saved under it)`);
        this.m.set(name, Tensor.zeros(p.shape).keep());
        this.v.set(name, Tensor.zeros(p.shape).keep());
      }
    }
  }

  /** One update with learning rate lr (scaled per group); parameters without a gradient are skipped. */
  update(lr: number): void {
    if (!(lr >= 0 && Number.isFinite(lr))) throw new GiftjsError(`AdamW: the learning rate must be a finite number >= 0, got ${lr}`);
    this.step++;
    const bc1 = 1 - this.beta1 ** this.step;
    const bc2 = 1 - this.beta2 ** this.step;
    const { beta1, beta2, eps } = this;
    for (const g of this.groups) {
      const glr = lr * g.lrScale;
      const step = { beta1, beta2, eps, decay: 1 - glr * g.weightDecay, stepSize: glr / bc1, sqrtBc2: Math.sqrt(bc2) };
      for (const [name, p] of g.params) {
        if (!p.grad) continue;
        getBackend().adamwUpdate(p.buffer, p.grad.buffer, this.m.get(name)!.buffer, this.v.get(name)!.buffer, p.size, step);
      }
    }
  }

  /** Releases the moments (the optimizer cannot update afterwards). */
  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }

  /** The moments by parameter name, for a checkpoint (the optimizer's own tensors: do not dispose them). */
  stateTensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, a] of this.m) out.set(`optimizer.m.${n}`, a);
    for (const [n, a] of this.v) out.set(`optimizer.v.${n}`, a);
    return out;
  }

  loadState(step: number, get: (name: string) => Float32Array | undefined, source: string): void {
    this.step = step;
    for (const [prefix, map] of [['optimizer.m.', this.m], ['optimizer.v.', this.v]] as const) {
      for (const [n, a] of map) {
        const saved = get(prefix + n);
        if (!saved || saved.length !== a.size) throw new GiftjsError(`${source}: optimizer state '${prefix}${n}' is missing or has the wrong size`);
        a.assign(saved);
      }
    }
  }
}

/**
 * clipGradNorm on any backend: a device backend (WebGPU) sums each gradient's squares into its own
 * memory and the host reads them all in one asynchronous read; the CPU backends run clipGradNorm
 * itself, so the numbers are the same bits there.
 */
export async function clipGradNormAsync(params: Tensor[], maxNorm: number): Promise<number> {
  if (!getBackend().sumOfSquaresInto) return clipGradNorm(params, maxNorm);
  const withGrad = params.filter((p) => p.grad);
  const squares = await sumsOfSquaresInBackend(withGrad.map((p) => p.grad!));
  let sq = 0;
  for (const v of squares) sq += v;
  return scaleToNorm(withGrad, Math.sqrt(sq), maxNorm);
}

/** Each tensor's sum of squares, summed in the backend's memory (sumOfSquaresInto) and read in one asynchronous read. */
async function sumsOfSquaresInBackend(tensors: Tensor[]): Promise<Float32Array> {
  const backend = getBackend();
  const squares = Tensor.empty([Math.max(1, tensors.length)]);
  try {
    tensors.forEach((t, i) => backend.sumOfSquaresInto!(t.buffer, t.size, squares.buffer, i));
    return Float32Array.from(await squares.readAsync()).subarray(0, tensors.length);
  } finally {
    squares.dispose();
  }
}

/** The names of the tensors whose values hold a NaN or an infinity, on any backend. */
export async function namesOfNonFinite(named: [string, Tensor][]): Promise<string[]> {
  const backend = getBackend();
  if (!backend.sumOfSquaresInto) return named.filter(([, t]) => !allFinite(t)).map(([n]) => n);
  const squares = await sumsOfSquaresInBackend(named.map(([, t]) => t));
  return named.filter((_, i) => !Number.isFinite(squares[i]!)).map(([n]) => n);
}

function scaleToNorm(params: Tensor[], norm: number, maxNorm: number): number {
  if (maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const p of params) if (p.grad) getBackend().scaleInPlace(p.grad.buffer, s, p.grad.size);
  }
  return norm;
}

/** Scales all gradients so that their global L2 norm is at most maxNorm; returns the norm before. */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  let sq = 0;
  for (const p of params) if (p.grad) sq += getBackend().sumOfSquares(p.grad.buffer, p.grad.size);
  return scaleToNorm(params, Math.sqrt(sq), maxNorm);
}

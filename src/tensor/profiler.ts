// An op-level profile of training steps (gift bench step --profile): wall time per op kind in the
// forward pass and in the backward pass, grouped into categories (GEMM, attention, norms,
// elementwise, layout, ...). Forward time is attributed to an op as the time since the previous op
// was recorded (ops run one after another), so model code between two ops counts to the second;
// backward time is each op's backward function, timed around its call, less the backward functions
// it runs itself (a checkpointed block's backward runs its ops' backward functions: counted in both,
// a checkpointed step's categories had summed to 150%). Inactive, a mark costs one comparison.
import { performance } from 'node:perf_hooks';

export interface OpTime {
  op: string;
  category: string;
  calls: number;
  ms: number;
}

export interface OpProfile {
  forward: OpTime[];
  backward: OpTime[];
}

const CATEGORIES = new Map<string, string>([
  ['linear', 'GEMM'], ['matmul', 'GEMM'], ['addmm', 'GEMM'],
  ['attention', 'attention'],
  ['rmsNorm', 'norms'], ['layerNorm', 'norms'],
  ['softmax', 'softmax / loss'], ['logSoftmax', 'softmax / loss'], ['crossEntropy', 'softmax / loss'],
  // The output projection's two GEMMs (logits, and dh computed in the forward) and the loss, chunked.
  ['linearCrossEntropy', 'LM head GEMMs + loss'],
  ['add', 'elementwise'], ['sub', 'elementwise'], ['mul', 'elementwise'], ['div', 'elementwise'], ['scale', 'elementwise'], ['addScalar', 'elementwise'],
  ['swiglu', 'activations'], ['silu', 'activations'], ['gelu', 'activations'], ['relu', 'activations'], ['tanh', 'activations'], ['dropout', 'activations'],
  ['reshape', 'layout'], ['permute', 'layout'], ['slice', 'layout'], ['concat', 'layout'],
  ['rope', 'rope'], ['embedding', 'gather'], ['sum', 'reductions'], ['mean', 'reductions'],
  // A checkpointed block's backward, less its ops' own backward functions: the forward it recomputes.
  ['checkpoint', 'recomputed forward (checkpointing)'],
]);

export function opCategory(op: string): string {
  return CATEGORIES.get(op) ?? 'other';
}

class Profiler {
  readonly forward = new Map<string, { calls: number; ms: number }>();
  readonly backward = new Map<string, { calls: number; ms: number }>();
  last = performance.now();
  /**
   * One entry per backward function now running, innermost last: the time of the backward functions
   * it has run itself so far. Non-empty, ops recorded are a recomputation's, not the forward's.
   */
  readonly nested: number[] = [];
}

let active: Profiler | null = null;

function add(table: Map<string, { calls: number; ms: number }>, op: string, ms: number): void {
  const e = table.get(op);
  if (e) {
    e.calls++;
    e.ms += ms;
  } else table.set(op, { calls: 1, ms });
}

export function startProfiling(): void {
  active = new Profiler();
}

/** Starts the forward clock (before a forward pass, so what ran before it is not counted). */
export function markForwardStart(): void {
  if (active) active.last = performance.now();
}

/** Called as each op is recorded: the time since the previous mark is this op's forward time. */
export function markForwardOp(op: string): void {
  if (!active || active.nested.length > 0) return;
  const now = performance.now();
  add(active.forward, op, now - active.last);
  active.last = now;
}

/** Times one op's backward function. */
export function timeBackward<T>(op: string, fn: () => T): T {
  if (!active) return fn();
  const p = active;
  const t0 = performance.now();
  p.nested.push(0);
  try {
    return fn();
  } finally {
    const elapsed = performance.now() - t0;
    const inner = p.nested.pop()!;
    add(p.backward, op, elapsed - inner);
    if (p.nested.length > 0) p.nested[p.nested.length - 1] += elapsed;
  }
}

export function stopProfiling(): OpProfile {
  const p = active;
  active = null;
  const rows = (t: Map<string, { calls: number; ms: number }>) =>
    [...(t ?? new Map())].map(([op, e]) => ({ op, category: opCategory(op), calls: e.calls, ms: e.ms })).sort((a, b) => b.ms - a.ms);
  return { forward: p ? rows(p.forward) : [], backward: p ? rows(p.backward) : [] };
}

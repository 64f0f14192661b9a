// Every call a benchmark makes to the backend, timed (gift bench step --profile, gift bench generate
// --profile): the backend is wrapped for the duration, each of its kernels timed around each call, the
// GEMMs grouped by shape. The op profile says how much of a step is GEMMs; this says which products
// they are and at what rate each ran, beside the peak or the memory stream, and how much of the time
// is spent in the kernels at all, so that what bounds a step or a token can be read off one run.
// (Attention's products run inside its own kernel and are not among the GEMMs.)
import { getBackend, withBackend } from '../backend/index.js';
import type { Backend, GemmArgs } from '../backend/backend.js';
import { QuantizedMatrix } from '../formats/quantized.js';

export interface GemmCallGroup {
  /** "M x N x K", the transposes ("NT": B transposed) and what B is stored as. */
  shape: string;
  calls: number;
  ms: number;
  flops: number;
  /** B's bytes as stored, read by these calls (a weight's, for a layer's product). */
  bBytes: number;
}

/** One kernel other than gemm: its calls and their time. */
export interface KernelCalls {
  kernel: string;
  calls: number;
  ms: number;
}

/** What a GEMM's B is stored as: float32, bfloat16 bits, or a quantized / float16 matrix's format. */
function storageOf(b: GemmArgs['B']): string {
  if (b instanceof QuantizedMatrix) return b.format;
  return b instanceof Uint16Array ? 'bf16' : 'f32';
}

/** The bytes of op(B) as stored: the whole matrix when quantized, else K x N values a problem of the batch. */
function bytesOfB(args: GemmArgs): number {
  if (args.B instanceof QuantizedMatrix) return args.B.bytes;
  return args.K * args.N * args.batch * (args.B instanceof Uint16Array ? 2 : 4);
}

/**
 * Runs fn with every kernel of the current backend timed; returns fn's result, the gemm calls by shape
 * (slowest first) and the other kernels' calls (likewise). Calls made while `counting` says false run
 * untimed (a generation's prefill, before the decoding to profile).
 */
export function timeBackendCalls<T>(fn: () => T, counting: () => boolean = () => true): { result: T; groups: GemmCallGroup[]; kernels: KernelCalls[] } {
  const backend = getBackend();
  const groups = new Map<string, GemmCallGroup>();
  const kernels = new Map<string, KernelCalls>();
  const timed: Record<string, unknown> = { ...backend };
  for (const [name, kernel] of Object.entries(backend)) {
    if (typeof kernel !== 'function' || name === 'gemm') continue;
    // Each wrapper holds its own entry: the timing's own cost stays small beside kernels of a microsecond.
    const entry: KernelCalls = { kernel: name, calls: 0, ms: 0 };
    timed[name] = (...args: unknown[]) => {
      if (!counting()) return kernel.apply(backend, args);
      const t0 = performance.now();
      const out = kernel.apply(backend, args);
      entry.ms += performance.now() - t0;
      if (entry.calls++ === 0) kernels.set(name, entry);
      return out;
    };
  }
  timed.gemm = (args: GemmArgs) => {
    if (!counting()) return backend.gemm(args);
    const t0 = performance.now();
    backend.gemm(args);
    const ms = performance.now() - t0;
    const shape = `${args.M} x ${args.N} x ${args.K}${args.batch > 1 ? ` (x${args.batch})` : ''} ${args.transA ? 'T' : 'N'}${args.transB ? 'T' : 'N'} ${storageOf(args.B)}`;
    const g = groups.get(shape) ?? { shape, calls: 0, ms: 0, flops: 0, bBytes: 0 };
    g.calls++;
    g.ms += ms;
    g.flops += 2 * args.M * args.N * args.K * args.batch;
    g.bBytes += bytesOfB(args);
    groups.set(shape, g);
  };
  const result = withBackend(timed as unknown as Backend, fn);
  return { result, groups: [...groups.values()].sort((a, b) => b.ms - a.ms), kernels: [...kernels.values()].sort((a, b) => b.ms - a.ms) };
}

/** The table under the op profile: a step's GEMMs (groups per step) by time, with their rate and their sum. */
export function gemmCallsTable(groups: GemmCallGroup[], msPerStep: number, peakGflops: number | null, top = 10): string {
  const total = groups.reduce((s, g) => ({ ms: s.ms + g.ms, flops: s.flops + g.flops }), { ms: 0, flops: 0 });
  const rate = (g: { ms: number; flops: number }) => (g.ms > 0 ? g.flops / g.ms / 1e6 : 0);
  const ofPeak = (gflops: number) => (peakGflops ? ` = ${(gflops / peakGflops).toFixed(2)} of the peak` : '');
  const lines = [
    `  GEMMs by shape (M x N x K, transposes, B's storage), per step:`,
    ...groups.slice(0, top).map((g) =>
      `    ${g.shape.padEnd(34)}${g.calls.toFixed(0).padStart(5)} calls${g.ms.toFixed(1).padStart(9)} ms${rate(g).toFixed(0).padStart(7)} GFLOP/s`),
    `  all ${groups.reduce((s, g) => s + g.calls, 0).toFixed(0)} GEMMs: ${total.ms.toFixed(1)} ms of the step's ${msPerStep.toFixed(1)} (${((100 * total.ms) / msPerStep).toFixed(1)}%), at ${rate(total).toFixed(1)} GFLOP/s${ofPeak(rate(total))}`,
  ];
  return lines.join('\n');
}

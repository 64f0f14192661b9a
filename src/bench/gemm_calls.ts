// Every GEMM a benchmark step calls, timed and grouped by shape (gift bench step --profile): the
// backend is wrapped for the duration, its gemm timed around each call. The op profile says how much
// of a step is GEMMs; this says which products they are and at what rate each ran inside the step,
// beside the peak, so that what bounds the step can be read off one run. (Attention's products run
// inside its own kernel and are not among them.)
import { getBackend, withBackend } from '../backend/index.js';
import type { Backend, GemmArgs } from '../backend/backend.js';
import { QuantizedMatrix } from '../formats/quantized.js';

export interface GemmCallGroup {
  /** "M x N x K", the transposes ("NT": B transposed) and what B is stored as. */
  shape: string;
  calls: number;
  ms: number;
  flops: number;
}

/** What a GEMM's B is stored as: float32, bfloat16 bits, or a quantized / float16 matrix's format. */
function storageOf(b: GemmArgs['B']): string {
  if (b instanceof QuantizedMatrix) return b.format;
  return b instanceof Uint16Array ? 'bf16' : 'f32';
}

/** Runs fn with every gemm of the current backend timed; returns fn's result and the calls by shape. */
export function timeGemmCalls<T>(fn: () => T): { result: T; groups: GemmCallGroup[] } {
  const backend = getBackend();
  const groups = new Map<string, GemmCallGroup>();
  const timed: Backend = {
    ...backend,
    gemm: (args) => {
      const t0 = performance.now();
      backend.gemm(args);
      const ms = performance.now() - t0;
      const shape = `${args.M} x ${args.N} x ${args.K}${args.batch > 1 ? ` (x${args.batch})` : ''} ${args.transA ? 'T' : 'N'}${args.transB ? 'T' : 'N'} ${storageOf(args.B)}`;
      const g = groups.get(shape) ?? { shape, calls: 0, ms: 0, flops: 0 };
      g.calls++;
      g.ms += ms;
      g.flops += 2 * args.M * args.N * args.K * args.batch;
      groups.set(shape, g);
    },
  };
  const result = withBackend(timed, fn);
  return { result, groups: [...groups.values()].sort((a, b) => b.ms - a.ms) };
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

// Timing for benchmarks: warm up, then repeat until a time budget is spent; report the median.
import { performance } from 'node:perf_hooks';

export interface Timing {
  /** Median seconds per call. */
  seconds: number;
  reps: number;
}

export function timeIt(fn: () => void, budgetSeconds = 1, warmup = 2, maxReps = 1000): Timing {
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < maxReps && (samples.length < 3 || performance.now() - start < budgetSeconds * 1000)) {
    const t0 = performance.now();
    fn();
    samples.push((performance.now() - t0) / 1000);
  }
  samples.sort((a, b) => a - b);
  return { seconds: samples[Math.floor(samples.length / 2)]!, reps: samples.length };
}

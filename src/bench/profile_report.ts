// The table `gift bench step --profile` prints: ms per step by op category, forward and backward,
// with what no op accounts for (model code between ops in forward; the graph walk, gradient sums
// and frees in backward) and the optimizer, so the order of speed work can be read off it.
import type { OpProfile, OpTime } from '../tensor/profiler.js';

export function profileTable(p: OpProfile, msForward: number, msBackward: number, msOptimizer: number, threads: number): string {
  const byCategory = new Map<string, { fwd: number; bwd: number }>();
  const put = (rows: OpTime[], key: 'fwd' | 'bwd') => {
    for (const r of rows) {
      const e = byCategory.get(r.category) ?? { fwd: 0, bwd: 0 };
      e[key] += r.ms;
      byCategory.set(r.category, e);
    }
  };
  put(p.forward, 'fwd');
  put(p.backward, 'bwd');
  const sum = (rows: OpTime[]) => rows.reduce((s, r) => s + r.ms, 0);
  const total = msForward + msBackward + msOptimizer;
  const line = (name: string, fwd: number | null, bwd: number | null) => {
    const t = (fwd ?? 0) + (bwd ?? 0);
    const f = (v: number | null) => (v === null ? '-' : v.toFixed(1)).padStart(10);
    return `  ${name.padEnd(34)}${f(fwd)}${f(bwd)}${f(t)}${`${((100 * t) / total).toFixed(1)}%`.padStart(8)}`;
  };
  const rows = [...byCategory].sort((a, b) => b[1].fwd + b[1].bwd - (a[1].fwd + a[1].bwd));
  const out = [
    `profile, ms per step (${threads} kernel thread${threads === 1 ? '' : 's'}):`,
    `  ${'category'.padEnd(34)}${'forward'.padStart(10)}${'backward'.padStart(10)}${'total'.padStart(10)}${'share'.padStart(8)}`,
    ...rows.map(([name, e]) => line(name, e.fwd, e.bwd)),
    line('outside ops (graph walk, grad sums)', Math.max(0, msForward - sum(p.forward)), Math.max(0, msBackward - sum(p.backward))),
    line('optimizer (AdamW, zero grads)', null, msOptimizer),
    '  top ops:',
    ...[...p.forward.map((r) => ({ ...r, phase: 'forward' })), ...p.backward.map((r) => ({ ...r, phase: 'backward' }))]
      .sort((a, b) => b.ms - a.ms).slice(0, 8)
      .map((r) => `    ${`${r.op} ${r.phase}`.padEnd(26)}${r.ms.toFixed(1).padStart(9)} ms  ${Math.round(r.calls)} calls`),
  ];
  return out.join('\n');
}

// The fuzzing harness's fixed-seed budget for CI (a couple of minutes): every target's property
// over a fixed number of mutated cases. `npm run fuzz -- --minutes N` runs the same for longer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Sandbox, TARGETS, type Outcome } from './targets.js';

/** Cases per target in CI; the argument vectors (which train and decode) get fewer. */
const RUNS = new Map<string, number>([['gift argument vectors', 500]]);
const DEFAULT_RUNS = 600;

for (const target of TARGETS) {
  test(`fuzz ${target.name}: only clear errors, bounded, nothing written outside --out`, { skip: target.available() ? false : 'its seed files are not here' }, async () => {
    const sandbox = new Sandbox();
    const seen: Record<Outcome, number> = { ok: 0, 'clear-error': 0 };
    try {
      await fc.assert(target.property(sandbox, (o) => seen[o]++), { seed: 20261127, numRuns: RUNS.get(target.name) ?? DEFAULT_RUNS, endOnFailure: true });
    } finally {
      sandbox.dispose();
    }
    console.log(`fuzz ${target.name}: ${seen.ok + seen['clear-error']} cases, ${seen.ok} accepted, ${seen['clear-error']} clear errors`);
    assert.ok(seen.ok + seen['clear-error'] > 0);
  });
}

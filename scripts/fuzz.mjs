#!/usr/bin/env node
// npm run fuzz -- [--minutes N] [--target NAME] [--seed S]
// Runs the fuzzing harness (test/fuzz/targets.ts, compiled to dist/) round-robin over its targets
// until the time is up, with a new seed each round, and prints a table: cases per target, how
// many were accepted and how many ended in a clear error. A failure (an exception other than
// GiftjsError, a case past its time or memory bound, a write outside --out) stops the run with
// the shrunk input that causes it and its seed, and exits 1.
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { ERROR_KINDS, Sandbox, TARGETS } from '../dist/test/fuzz/targets.js';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '5' }, target: { type: 'string' }, seed: { type: 'string' }, runs: { type: 'string' }, 'error-kinds': { type: 'boolean' } } });
const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new Error(`--minutes must be a positive number, got ${values.minutes}`);
const targets = TARGETS.filter((t) => t.available() && (!values.target || t.name.includes(values.target)));
if (targets.length === 0) throw new Error(`no target matches '${values.target}' (targets: ${TARGETS.map((t) => t.name).join('; ')})`);
const deadline = Date.now() + minutes * 60_000;
const table = new Map(targets.map((t) => [t.name, { ok: 0, 'clear-error': 0 }]));
let seed = values.seed ? Number(values.seed) : Date.now() % 2 ** 31;
let failed = false;
const slice = Math.max(10_000, Math.floor((minutes * 60_000) / targets.length / 4));
outer: while (Date.now() < deadline) {
  for (const target of targets) {
    if (Date.now() >= deadline) break outer;
    const sandbox = new Sandbox();
    const counts = table.get(target.name);
    try {
      const r = await fc.check(target.property(sandbox, (o) => counts[o]++), {
        seed, numRuns: values.runs ? Number(values.runs) : 1_000_000, interruptAfterTimeLimit: Math.min(slice, deadline - Date.now()), endOnFailure: false,
      });
      // fast-check counts a check interrupted before its first case as failed (numRuns 0, no counterexample):
      // a slow target's slice in the run's last seconds. Only a property's failure has a counterexample.
      if (r.failed && r.counterexamplePath !== null) {
        failed = true;
        const err = r.errorInstance;
        const text = err instanceof Error ? err.message : String(err);
        console.error(`FAILURE in ${target.name} (seed ${seed}, path ${r.counterexamplePath}):\n${text.length > 3000 ? `${text.slice(0, 3000)}...` : text}`);
        break outer;
      }
    } finally {
      sandbox.dispose();
    }
    seed++;
  }
}
let total = { ok: 0, 'clear-error': 0 };
console.log('| target | cases | accepted | clear errors |\n|---|---:|---:|---:|');
for (const [name, c] of table) {
  console.log(`| ${name} | ${c.ok + c['clear-error']} | ${c.ok} | ${c['clear-error']} |`);
  total = { ok: total.ok + c.ok, 'clear-error': total['clear-error'] + c['clear-error'] };
}
console.log(`| all | ${total.ok + total['clear-error']} | ${total.ok} | ${total['clear-error']} |`);
if (values['error-kinds']) {
  console.log('\nmost frequent clear errors (numbers, paths and quoted values blanked):');
  for (const [kind, n] of [...ERROR_KINDS].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`${String(n).padStart(8)}  ${kind}`);
}
console.log(failed ? 'fuzz: a failure was found (above)' : `fuzz: no failure in ${minutes} minutes`);
process.exit(failed ? 1 : 0);

// The op profiler behind `gift bench step --profile`: every op of a step is counted in its phase,
// the times add up to no more than the phases' wall time, and nothing is recorded when inactive.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { profileTable } from '../../src/bench/profile_report.js';
import { linear } from '../../src/ops/matmul.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { rmsNorm } from '../../src/ops/norms.js';
import { tidy } from '../../src/tensor/memory.js';
import { checkpoint } from '../../src/tensor/checkpoint.js';
import { markForwardStart, startProfiling, stopProfiling } from '../../src/tensor/profiler.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { randn } from '../helpers.js';

test('the profiler counts each op once per phase and its times fit in the wall time', () => {
  const w = randn([16, 32], 1, true);
  const x = randn([8, 32], 2);
  const step = () => tidy(() => {
    markForwardStart();
    const loss = crossEntropy(linear(rmsNorm(x, Tensor.ones([32])), w), [0, 1, 2, 3, 4, 5, 6, 7]);
    loss.backward();
  });
  step();
  assert.deepEqual(stopProfiling(), { forward: [], backward: [] }, 'nothing recorded while inactive');
  startProfiling();
  const t0 = performance.now();
  step();
  step();
  const wall = performance.now() - t0;
  const p = stopProfiling();
  const calls = (rows: typeof p.forward) => Object.fromEntries(rows.map((r) => [r.op, r.calls]));
  assert.deepEqual(calls(p.forward), { rmsNorm: 2, linear: 2, crossEntropy: 2 });
  // rmsNorm's input needs no gradient, so its backward never runs.
  assert.deepEqual(calls(p.backward), { crossEntropy: 2, linear: 2 });
  assert.equal(p.forward.find((r) => r.op === 'linear')!.category, 'GEMM');
  const total = [...p.forward, ...p.backward].reduce((s, r) => s + r.ms, 0);
  assert.ok(total > 0 && total <= wall, `${total} ms of ops within ${wall} ms`);
  assert.match(profileTable(p, wall / 2, wall / 2, 0, 1), /GEMM .*\n[\s\S]*top ops:/);
  w.grad?.dispose();
});

test('a checkpointed block\'s backward counts only what its own ops\' backward functions do not: the phases add up', () => {
  const w = randn([32, 32], 3, true);
  const x = randn([8, 32], 4);
  startProfiling();
  let msForward = 0;
  let msBackward = 0;
  tidy(() => {
    const t0 = performance.now();
    markForwardStart();
    const loss = crossEntropy(checkpoint((a) => linear(linear(a, w), w), [x]), [0, 1, 2, 3, 4, 5, 6, 7]);
    const t1 = performance.now();
    loss.backward();
    msForward = t1 - t0;
    msBackward = performance.now() - t1;
  });
  const p = stopProfiling();
  const backward = Object.fromEntries(p.backward.map((r) => [r.op, r]));
  // The block's two linear backward functions are timed inside its own: counted once, under linear.
  assert.equal(backward.linear!.calls, 2);
  assert.equal(backward.checkpoint!.category, 'recomputed forward (checkpointing)');
  const sum = (rows: typeof p.forward) => rows.reduce((s, r) => s + r.ms, 0);
  assert.ok(sum(p.forward) <= msForward && sum(p.backward) > 0 && sum(p.backward) <= msBackward, `forward ${sum(p.forward)} of ${msForward} ms, backward ${sum(p.backward)} of ${msBackward} ms`);
  // Each row of the table is within the step: no share above 100%, the shares' sum within it too.
  const shares = [...profileTable(p, msForward, msBackward, 0, 1).matchAll(/ (\d+\.\d)%$/gm)].map((m) => Number(m[1]));
  assert.ok(shares.length > 3 && shares.reduce((a, b) => a + b, 0) <= 100.5, shares.join(' + '));
  w.grad?.dispose();
});

// `gift bench step --dtype bf16 --bf16-compute --vs-f32`: the bf16 and float32 steps of the same
// shape in one process, alternating step by step. Speeds are printed, never asserted; what is
// checked is that both steps ran the same model (the same first loss up to bf16 rounding), that
// bf16 compute is left off afterwards, and that the flag is refused by name without bf16.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bf16ComputeEnabled } from '../../src/backend/bf16_compute.js';
import { benchBf16AgainstF32 } from '../../src/bench/step.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test('bf16 against float32 in one process: both steps run, bf16 compute is off afterwards', () => {
  const r = benchBf16AgainstF32('smollm2-135m', 1, 16, 4, 'gift', 1, 1);
  assert.ok(Number.isFinite(r.f32) && r.f32 > 0, `f32 ${r.f32}`);
  assert.ok(Number.isFinite(r.bf16) && r.bf16 > 0, `bf16 ${r.bf16}`);
  assert.ok(Math.abs(r.firstLoss.bf16 - r.firstLoss.f32) < 2e-2 * r.firstLoss.f32 && r.firstLoss.bf16 !== r.firstLoss.f32, `losses ${r.firstLoss.f32} / ${r.firstLoss.bf16}`);
  assert.equal(bf16ComputeEnabled(), false);
});

test('--vs-f32 without --dtype bf16 --bf16-compute is refused by name', () => {
  const out = spawnSync(process.execPath, [join(ROOT, 'bin/gift.js'), 'bench', 'step', '--vs-f32', '--layers', '1'], { encoding: 'utf8' });
  assert.equal(out.status, 1);
  assert.match(out.stderr, /--vs-f32 compares the bf16 step with the float32 one: give it with --dtype bf16 --bf16-compute/);
});

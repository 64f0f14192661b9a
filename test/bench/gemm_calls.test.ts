// The GEMM table of `gift bench step --profile` (src/bench/gemm_calls.ts): every gemm the backend runs
// while it watches is counted under its shape, transposes and B's storage, with 2 M N K FLOPs a problem
// (times the batch), the products themselves unchanged, and the backend restored after; a training step
// with --profile reports the calls a step of its layers makes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchTrainingStep } from '../../src/bench/step.js';
import { gemmCallsTable, timeGemmCalls } from '../../src/bench/gemm_calls.js';
import { getBackend } from '../../src/backend/index.js';
import { linear, matmul } from '../../src/ops/matmul.js';
import { Random } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';

test('each gemm is counted under its shape, transposes and B storage; the products are the same; the backend is restored', () => {
  const r = new Random(3);
  const x = Tensor.randn([5, 7], r);
  const w = Tensor.randn([3, 7], r);
  const a = Tensor.randn([2, 4, 6], r);
  const b = Tensor.randn([2, 6, 8], r);
  const before = getBackend();
  const plain = [linear(x, w).toArray(), matmul(a, b).toArray()];
  const { result, groups } = timeGemmCalls(() => [linear(x, w).toArray(), linear(x, w).toArray(), matmul(a, b).toArray()]);
  assert.equal(getBackend(), before);
  assert.deepEqual(result, [plain[0], plain[0], plain[1]]);
  const byShape = new Map(groups.map((g) => [g.shape, g]));
  assert.deepEqual([...byShape.keys()].sort(), ['4 x 8 x 6 (x2) NN f32', '5 x 3 x 7 NT f32']);
  assert.equal(byShape.get('5 x 3 x 7 NT f32')!.calls, 2);
  assert.equal(byShape.get('5 x 3 x 7 NT f32')!.flops, 2 * 2 * 5 * 3 * 7);
  assert.equal(byShape.get('4 x 8 x 6 (x2) NN f32')!.flops, 2 * 4 * 8 * 6 * 2);
  for (const g of groups) assert.ok(g.ms >= 0 && Number.isFinite(g.ms));
  const table = gemmCallsTable(groups, 10, null);
  assert.match(table, /all 3 GEMMs: [0-9.]+ ms of the step's 10\.0 \(/);
});

test('a profiled training step reports its GEMMs per step: the layers\' linears, GIFT\'s products and the LM head', () => {
  // One layer of SmolLM2's shape, batch 1 x 16: q, k, v, o, gate, up, down (x W^T forward, dY W backward),
  // GIFT's x psi and its back-projection, and the tied LM head's two products.
  const t = benchTrainingStep('smollm2-135m', 1, 16, 8, 'gift', 1, 1, 'f32', false, false, true);
  const groups = t.gemmCalls!;
  const shapes = new Set(groups.map((g) => g.shape));
  for (const s of ['16 x 576 x 576 NT f32', '16 x 192 x 576 NT f32', '16 x 1536 x 576 NT f32', '16 x 576 x 1536 NT f32', '16 x 49152 x 576 NT f32', '16 x 576 x 49152 NN f32', '16 x 576 x 1536 NN f32'])
    assert.ok(shapes.has(s), `${s} missing from ${[...shapes].join(', ')}`);
  const forward = groups.find((g) => g.shape === '16 x 1536 x 576 NT f32')!;
  assert.equal(forward.calls, 2); // gate and up, once each per step
  assert.equal(forward.flops, 2 * 2 * 16 * 1536 * 576);
});

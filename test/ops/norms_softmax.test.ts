import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getBackend, isNativeAvailable, withBackend } from '../../src/backend/index.js';
import { erf } from '../../src/backend/ref/activations.js';
import { gelu, silu, swiglu } from '../../src/ops/activations.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { linearCrossEntropy } from '../../src/ops/linear_cross_entropy.js';
import { layerNorm, rmsNorm } from '../../src/ops/norms.js';
import { logSoftmax, softmax } from '../../src/ops/softmax.js';
import { memoryStats } from '../../src/tensor/memory.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { assertBackendsAgree, assertClose, assertGradcheck, randn, testEachBackend } from '../helpers.js';
import { crossEntropyRows64, gelu64, layerNorm64, logSoftmax64, rmsNorm64, silu64, softmax64 } from '../reference64.js';

// Row lengths around the SIMD widths (8, 16) plus 1 and a long row.
const COLS = [1, 7, 16, 17, 33, 1000];

testEachBackend('rmsNorm and layerNorm match float64 math; gradients match finite differences', () => {
  for (const cols of COLS) {
    const x = randn([3, cols], cols, true);
    const w = randn([cols], cols + 1, true);
    const b = randn([cols], cols + 2, true);
    assertClose(rmsNorm(x, w, 1e-6).data, rmsNorm64(x.data, w.data, cols, 1e-6), `rmsNorm cols=${cols}`);
    assertClose(layerNorm(x, w, b, 1e-5).data, layerNorm64(x.data, w.data, b.data, cols, 1e-5), `layerNorm cols=${cols}`, 1e-4, 1e-4);
    assertClose(layerNorm(x, null, null).data, layerNorm64(x.data, null, null, cols, 1e-5), `layerNorm no affine cols=${cols}`, 1e-4, 1e-4);
    if (cols > 1 && cols < 100) {
      assertGradcheck((a, c) => rmsNorm(a, c), [x, w], `rmsNorm grad cols=${cols}`);
      assertGradcheck((a, c, d) => layerNorm(a, c, d), [x, w, b], `layerNorm grad cols=${cols}`);
      assertGradcheck((a) => layerNorm(a, null, null), [x], `layerNorm (no affine) grad cols=${cols}`);
    }
  }
  // An eps below 0 or NaN: refused, not the square root of a negative.
  const x1 = Tensor.fromHost([2, 4], (d) => d.fill(0.5));
  for (const eps of [-1, NaN, Infinity]) {
    assert.throws(() => rmsNorm(x1, Tensor.fromHost([4], (d) => d.fill(1)), eps), new RegExp(`rmsNorm: eps must be a finite number >= 0, got ${eps}`));
    assert.throws(() => layerNorm(x1, null, null, eps), new RegExp(`layerNorm: eps must be a finite number >= 0, got ${eps}`));
  }
});

testEachBackend('softmax and logSoftmax match float64 math, also with -inf and huge logits', () => {
  for (const cols of COLS) {
    const x = randn([4, cols], cols * 3, true);
    assertClose(softmax(x).data, softmax64(x.data, cols), `softmax cols=${cols}`, 1e-6, 1e-5);
    assertClose(logSoftmax(x).data, logSoftmax64(x.data, cols), `logSoftmax cols=${cols}`, 1e-5, 1e-5);
    if (cols < 100) {
      assertGradcheck((a) => softmax(a), [x], `softmax grad cols=${cols}`);
      assertGradcheck((a) => logSoftmax(a), [x], `logSoftmax grad cols=${cols}`);
    }
  }
  const extreme = Tensor.fromArray([1000, 0, -Infinity, 999], [1, 4]);
  assertClose(softmax(extreme).data, [1 / (1 + Math.exp(-1)), 0, 0, Math.exp(-1) / (1 + Math.exp(-1))], 'no overflow', 1e-6, 1e-6);
});

testEachBackend('crossEntropy: mean, sum and none reductions with an ignore index', () => {
  const vocab = 37;
  const logits = randn([2, 3, vocab], 5, true);
  const targets = [4, -100, 36, 0, 7, -100];
  const rows = crossEntropyRows64(logits.data, targets, vocab, -100);
  const kept = rows.filter((v) => !Number.isNaN(v));
  assertClose([crossEntropy(logits, targets).item()], [kept.reduce((a, b) => a + b) / kept.length], 'mean');
  assertClose([crossEntropy(logits, targets, { reduction: 'sum' }).item()], [kept.reduce((a, b) => a + b)], 'sum', 1e-4);
  assertClose(crossEntropy(logits, targets, { reduction: 'none' }).data, rows.map((v) => (Number.isNaN(v) ? 0 : v)), 'none');
  const keptRows = crossEntropyRows64(logits.data, [1, 2, 3, 4, 5, 6], vocab, 3).filter((v) => !Number.isNaN(v));
  assert.equal(keptRows.length, 5);
  assertClose([crossEntropy(logits, [1, 2, 3, 4, 5, 6], { ignoreIndex: 3 }).item()], [keptRows.reduce((a, b) => a + b) / 5], 'custom ignore index');
  assertGradcheck((l) => crossEntropy(l, targets), [logits], 'mean grad');
  assertGradcheck((l) => crossEntropy(l, targets, { reduction: 'none' }), [logits], 'none grad');
  assert.ok(Number.isNaN(crossEntropy(logits, [-100, -100, -100, -100, -100, -100]).item()), 'all ignored: NaN, as PyTorch');
  assert.throws(() => crossEntropy(logits, [0, 1, 2, 3, 4, 37]), /target 37 at row 5 is outside the vocabulary of 37/);
  assert.throws(() => crossEntropy(logits, [0, 1]), /logits \[2, 3, 37\] have 6 rows but 2 targets were given/);
  // From JavaScript: a plain array's 1.5 or NaN had become 1 or 0, and an unknown reduction the mean.
  assert.throws(() => crossEntropy(logits, [0, 1, 2, 1.5, 4, 5]), /crossEntropy: target 1.5 at row 3 is not a whole token id/);
  assert.throws(() => crossEntropy(logits, [0, NaN, 2, 3, 4, 5]), /crossEntropy: target NaN at row 1 is not a whole token id/);
  assert.throws(() => crossEntropy(logits, targets, { reduction: 'avg' as 'mean' }), /crossEntropy: reduction must be mean, sum or none, got 'avg'/);
  const h = Tensor.fromHost([6, 37], (d) => d.fill(0.1));
  const W = Tensor.fromHost([37, 37], (d) => d.fill(0.01));
  assert.throws(() => linearCrossEntropy(h, W, [0, 1, 2, 1.5, 4, 5]), /linearCrossEntropy: target 1.5 at row 3 is not a whole token id/);
});

testEachBackend('crossEntropy over a 128k vocabulary keeps one float per row beyond the logits', () => {
  const vocab = 128256;
  const logits = randn([4, vocab], 6, true);
  const before = memoryStats().liveBytes;
  const loss = crossEntropy(logits, [1, 128255, 77, -100]);
  const during = memoryStats().liveBytes - before;
  // the scalar loss + 4 log-sum-exps, each in a pool buffer at most twice its length; no [4, vocab] buffer
  assert.ok(during <= 2 * (4 * 4 + 4), `forward kept ${during} bytes`);
  const rows = crossEntropyRows64(logits.data, [1, 128255, 77, -100], vocab, -100);
  assertClose([loss.item()], [(rows[0]! + rows[1]! + rows[2]!) / 3], '128k loss', 1e-4, 1e-5);
  loss.backward();
  const g = logits.grad!.data;
  // The gradient of a row sums to zero; the target entry is (p - 1) / 3.
  let s = 0;
  for (let j = 0; j < vocab; j++) s += g[j]!;
  assert.ok(Math.abs(s) < 1e-5, `row gradient sums to ${s}`); // float32 log-sum-exp of ~12: ~1e-6 relative
  assert.equal(g[3 * vocab + 5], 0, 'ignored row has zero gradient');
});

test('erf matches tabulated values to 1e-15', () => {
  const table: [number, number][] = [[0, 0], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527], [3, 0.9999779095030014], [-1.5, -0.9661051464753108]];
  for (const [x, e] of table) assert.ok(Math.abs(erf(x) - e) < 1e-15, `erf(${x}) = ${erf(x)}, expected ${e}`);
});

testEachBackend('gelu (erf and tanh), silu and swiglu match float64 math and finite differences', () => {
  const x = randn([5, 19], 7, true);
  const up = randn([5, 19], 8, true);
  assertClose(gelu(x).data, Array.from(x.data, (v) => gelu64(v, 'none')), 'gelu erf');
  assertClose(gelu(x, 'tanh').data, Array.from(x.data, (v) => gelu64(v, 'tanh')), 'gelu tanh');
  assertClose(silu(x).data, Array.from(x.data, silu64), 'silu');
  assertClose(swiglu(x, up).data, Array.from(x.data, (v, i) => silu64(v) * up.data[i]!), 'swiglu');
  assertClose([gelu(Tensor.fromArray([1])).item()], [0.8413447460685429], 'gelu(1) = Phi(1)', 1e-7, 0);
  assertGradcheck((a) => gelu(a), [x], 'gelu erf grad');
  assertGradcheck((a) => gelu(a, 'tanh'), [x], 'gelu tanh grad');
  assertGradcheck((a) => silu(a), [x], 'silu grad');
  assertGradcheck((a, b) => swiglu(a, b), [x, up], 'swiglu grad');
  assert.throws(() => swiglu(x, randn([5, 18], 1)), /gate \[5, 19\] and up \[5, 18\]/);
});

test('native and ref agree on norms, softmax and cross-entropy at Transformer sizes', () => {
  const x = randn([64, 576], 11);
  const w = randn([576], 12);
  assertBackendsAgree(() => rmsNorm(x, w), 'rmsNorm 64x576');
  assertBackendsAgree(() => layerNorm(x, w, w), 'layerNorm 64x576', 1e-4);
  const logits = randn([16, 4099], 13);
  assertBackendsAgree(() => softmax(logits), 'softmax 16x4099', 1e-7);
  const targets = Array.from({ length: 16 }, (_, i) => (i * 257) % 4099);
  assertBackendsAgree(() => crossEntropy(logits, targets, { reduction: 'none' }), 'crossEntropy rows');
});

test('fused swiglu: the native kernel (threaded, odd length) equals the reference kernel, each gradient alone too', { skip: isNativeAvailable() ? false : 'no native backend' }, () => {
  const n = 100_003; // past the threading chunk, not a multiple of any vector width
  const gate = randn([n], 7).data;
  const up = randn([n], 8).data;
  const dy = randn([n], 9).data;
  const run = (b: 'ref' | 'native') => withBackend(b, () => {
    const y = new Float32Array(n);
    const dg = new Float32Array(n);
    const du = new Float32Array(n);
    const dgAlone = new Float32Array(n);
    getBackend().swigluForward(gate, up, y, n);
    getBackend().swigluBackward(gate, up, dy, dg, du, n);
    getBackend().swigluBackward(gate, up, dy, dgAlone, null, n);
    return { y, dg, du, dgAlone };
  });
  const r = run('ref');
  const v = run('native');
  for (const k of ['y', 'dg', 'du', 'dgAlone'] as const) assertClose(v[k], r[k], `swiglu ${k}`, 1e-6, 1e-5);
  assertClose(r.dgAlone, r.dg, 'dgate without dup', 0, 0);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isNativeAvailable, nativeAddon, setBf16Compute, withBackend } from '../../src/backend/index.js';
import { scaledDotProductAttention } from '../../src/ops/attention.js';
import { dropout } from '../../src/ops/dropout.js';
import { gelu } from '../../src/ops/activations.js';
import { add, mul, scale } from '../../src/ops/elementwise.js';
import { matmul } from '../../src/ops/matmul.js';
import { softmax } from '../../src/ops/softmax.js';
import { rope } from '../../src/ops/rope.js';
import { slice } from '../../src/ops/shape_ops.js';
import { Random } from '../../src/tensor/random.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { noGrad } from '../../src/tensor/autograd.js';
import { memoryStats, poolFor, tidy } from '../../src/tensor/memory.js';
import { metaDryRunBackend, metaMemory } from '../../src/backend/meta/index.js';
import { assertBackendsAgree, assertClose, assertGradcheck, randn, testEachBackend } from '../helpers.js';
import { attention64, rope64 } from '../reference64.js';

testEachBackend('rope follows Hugging Face rotate-half, with a position offset', () => {
  const x = randn([2, 3, 5, 8], 1, true);
  assertClose(rope(x).data, rope64(x.data, 5, 8, 10000, 0), 'offset 0');
  assertClose(rope(x, { theta: 500000, positionOffset: 7 }).data, rope64(x.data, 5, 8, 500000, 7), 'offset 7, theta 5e5', 1e-5, 1e-4);
  // A row at offset p equals row p of a longer sequence: what a KV cache relies on.
  const long = randn([1, 1, 6, 4], 2);
  const tail = Tensor.fromArray(long.data.subarray(16), [1, 1, 2, 4]);
  assertClose(rope(tail, { positionOffset: 4 }).data, slice(rope(long), 2, 4, 6).data, 'offset = later positions');
  assertGradcheck((a) => rope(a, { positionOffset: 3 }), [x], 'rope grad');
  // LongRoPE's attention factor scales cos and sin: the rotation times the factor, and its gradient.
  assertClose(rope(x, { positionOffset: 2, scale: 1.19 }).data, rope64(x.data, 5, 8, 10000, 2).map((v) => 1.19 * v), 'scale 1.19', 1e-5, 1e-4);
  assertGradcheck((a) => rope(a, { positionOffset: 3, scale: 1.19 }), [x], 'scaled rope grad');
  assert.throws(() => rope(randn([2, 3, 5], 3)), /head dimension 5 of x \[2, 3, 5\] must be even/);
  // Options that made NaN or in-between angles without a word.
  const x4 = randn([2, 3, 4], 4);
  assert.throws(() => rope(x4, { theta: -1 }), /rope: theta -1 must be a positive number/);
  for (const offset of [NaN, 1.5, -2]) assert.throws(() => rope(x4, { positionOffset: offset }), new RegExp(`rope: positionOffset ${offset} must be a whole number >= 0`));
  assert.throws(() => rope(x4, { positions: [0, NaN, 2] }), /rope: position NaN of row 1 must be a whole number >= 0/);
  assert.throws(() => gelu(x4, 'fast' as 'tanh'), /gelu: approximate must be 'none' or 'tanh', got 'fast'/);
});

testEachBackend('rope tables are kept per frequency array, and one changed in place is not served stale tables', () => {
  const x = randn([1, 2, 5, 8], 4);
  const invFreq = Float64Array.from([1, 0.1, 0.01, 0.001]);
  const first = rope(x, { invFreq }).toFloat32Array();
  assertClose(rope(x, { invFreq }).data, first, 'the same array again');
  assertClose(first, rope64(x.data, 5, 8, 10000, 0, invFreq), 'its own frequencies');
  invFreq[1] = 0.5;
  assertClose(rope(x, { invFreq }).data, rope64(x.data, 5, 8, 10000, 0, invFreq), 'after the array changed');
});

testEachBackend('rope on host memory reads its cached tables in place: one buffer a call, its output; its backward reads them after the cache has moved on', () => {
  const x = randn([1, 2, 1, 8], 5, true);
  noGrad(() => rope(x, { positionOffset: 3 })); // the tables of position 3 made and cached
  const taken = () => memoryStats().freshAllocations + memoryStats().reuses;
  const before = taken();
  const out = noGrad(() => rope(x, { positionOffset: 3 }));
  // (Uploaded into tensors, the cos and sin tables took two more buffers from the pool every call.)
  assert.equal(taken() - before, 1, 'buffers taken from the pool by one rope call');
  assertClose(out.data, rope64(x.data, 1, 8, 10000, 3), 'the cached tables read in place');
  // The backward keeps the tables it rotated with, though 40 other positions have emptied the cache since.
  assertGradcheck((a) => {
    const y = rope(a, { positionOffset: 5 });
    for (let p = 100; p < 140; p++) noGrad(() => rope(a, { positionOffset: p })).dispose();
    return y;
  }, [x], 'rope grad after the cache moved on');
});

interface Case { B: number; H: number; Hkv: number; T: number; S: number; D: number; causal: boolean; padded: boolean; window?: number; softcap?: number; segmented?: boolean; dropout?: number }
// Decoding: few query rows per key/value head against many keys (native's fewQueries kernel, 16 keys at a time, then the rest).
const DECODING_CASES: Case[] = [
  { B: 2, H: 8, Hkv: 2, T: 1, S: 37, D: 32, causal: true, padded: true }, // one token, groups of 4 heads
  { B: 1, H: 4, Hkv: 1, T: 3, S: 40, D: 64, causal: true, padded: true, window: 20, softcap: 0.8 }, // 12 rows, a window, a cap
  { B: 1, H: 2, Hkv: 1, T: 1, S: 33, D: 24, causal: false, padded: true }, // D not a multiple of 16: the portable loops
];

const CASES: Case[] = [
  { B: 1, H: 1, Hkv: 1, T: 1, S: 1, D: 1, causal: false, padded: false },
  { B: 2, H: 4, Hkv: 2, T: 5, S: 5, D: 8, causal: true, padded: false },
  { B: 2, H: 3, Hkv: 1, T: 3, S: 7, D: 6, causal: true, padded: true }, // queries are the last 3 of 7
  { B: 3, H: 2, Hkv: 2, T: 6, S: 6, D: 17, causal: false, padded: true },
  { B: 2, H: 2, Hkv: 1, T: 6, S: 6, D: 4, causal: true, padded: true, window: 3 }, // each query sees its 3 latest keys
  { B: 2, H: 2, Hkv: 2, T: 2, S: 7, D: 5, causal: true, padded: true, window: 4 }, // a cache's tail queries in a window
  { B: 2, H: 2, Hkv: 1, T: 5, S: 5, D: 6, causal: true, padded: true, softcap: 0.8 }, // Gemma 2's capped scores (a small cap, so it bites)
  { B: 2, H: 2, Hkv: 1, T: 9, S: 9, D: 4, causal: true, padded: false, segmented: true }, // packed examples
  ...DECODING_CASES,
];

function maskFor(c: Case): Float32Array | null {
  if (!c.padded && !c.segmented) return null;
  const m = new Float32Array(c.B * c.S).fill(1);
  for (let b = 0; b < c.B; b++) {
    if (c.segmented) {
      // Packed rows: segments 1, 2, 3 of different lengths per row, then right padding (0) growing with b.
      const real = c.S - b;
      for (let j = 0; j < c.S; j++) m[b * c.S + j] = j >= real ? 0 : j < Math.floor(real / 3) + b ? 1 : j < Math.floor((2 * real) / 3) ? 2 : 3;
    } else {
      for (let j = 0; j < b; j++) m[b * c.S + j] = 0; // left padding grows with b
    }
  }
  return m;
}

testEachBackend('attention matches float64 math: causal, padded, grouped-query', () => {
  CASES.forEach((c, i) => {
    const q = randn([c.B, c.H, c.T, c.D], 10 * i + 1);
    const k = randn([c.B, c.Hkv, c.S, c.D], 10 * i + 2);
    const v = randn([c.B, c.Hkv, c.S, c.D], 10 * i + 3);
    const mask = maskFor(c);
    const out = scaledDotProductAttention(q, k, v, { causal: c.causal, keyPaddingMask: mask, window: c.window, softcap: c.softcap, segmented: c.segmented });
    assertClose(out.data, attention64(q.data, k.data, v.data, c.B, c.H, c.Hkv, c.T, c.S, c.D, c.causal, mask, c.window, c.softcap, c.segmented), `case ${i}`);
  });
});

testEachBackend('attention gradients match finite differences', () => {
  CASES.forEach((c, i) => {
    const q = randn([c.B, c.H, c.T, c.D], 10 * i + 4, true);
    const k = randn([c.B, c.Hkv, c.S, c.D], 10 * i + 5, true);
    const v = randn([c.B, c.Hkv, c.S, c.D], 10 * i + 6, true);
    const mask = maskFor(c);
    assertGradcheck((a, b, d) => scaledDotProductAttention(a, b, d, { causal: c.causal, keyPaddingMask: mask, window: c.window, softcap: c.softcap, segmented: c.segmented }), [q, k, v], `case ${i}`, { maxProbesPerInput: 24 });
  });
});

testEachBackend('a query that sees no key outputs zeros and passes no gradient', () => {
  const q = randn([1, 1, 2, 4], 1, true);
  const k = randn([1, 1, 2, 4], 2, true);
  const v = randn([1, 1, 2, 4], 3, true);
  const out = scaledDotProductAttention(q, k, v, { keyPaddingMask: new Float32Array([0, 0]) });
  assert.deepEqual(Array.from(out.data), [0, 0, 0, 0, 0, 0, 0, 0]);
  out.backward(Tensor.ones(out.shape));
  assert.ok(q.grad!.data.every((x) => x === 0) && v.grad!.data.every((x) => x === 0));
});

test('native and ref agree on a Transformer-sized attention and its gradients', () => {
  const q = randn([2, 6, 40, 32], 7, true);
  const k = randn([2, 2, 40, 32], 8, true);
  const v = randn([2, 2, 40, 32], 9, true);
  const g = randn([2, 6, 40, 32], 10);
  for (const which of [0, 1, 2]) {
    assertBackendsAgree(() => {
      const out = scaledDotProductAttention(q, k, v, { causal: true });
      out.backward(g);
      const grad = [q, k, v][which]!.grad!.clone();
      for (const t of [q, k, v]) t.zeroGrad();
      return grad;
    }, `attention grad of input ${which}`, 1e-4, 1e-3);
  }
});

// Longer than the native kernel's 64-query blocks: several blocks, a ragged last one, a causal
// mask whose blocks see different numbers of keys, queries that are the tail of a longer key
// sequence (a KV cache), padding, and no mask at all.
const BLOCK_CASES: Case[] = [
  { B: 1, H: 2, Hkv: 1, T: 150, S: 150, D: 8, causal: true, padded: false },
  { B: 2, H: 2, Hkv: 2, T: 70, S: 200, D: 5, causal: true, padded: true },
  { B: 1, H: 3, Hkv: 3, T: 130, S: 90, D: 4, causal: false, padded: false },
  // Windows shorter than a block, and straddling blocks: blocks start past the first keys.
  { B: 1, H: 2, Hkv: 1, T: 150, S: 150, D: 8, causal: true, padded: false, window: 20 },
  { B: 2, H: 2, Hkv: 1, T: 70, S: 200, D: 5, causal: true, padded: true, window: 100 },
  { B: 1, H: 2, Hkv: 2, T: 100, S: 100, D: 8, causal: true, padded: false, window: 70, softcap: 1.5 },
  { B: 2, H: 2, Hkv: 1, T: 140, S: 140, D: 6, causal: true, padded: false, segmented: true }, // segments across blocks
  // Keys and values are packed once per call and each block reads its part: a window whose blocks
  // start on a packed sliver of 32 keys (32, 96), and more keys than one packed slice holds (576
  // float32, 640 bf16 pairs), so a block reads its values from several slices.
  { B: 1, H: 4, Hkv: 2, T: 150, S: 150, D: 8, causal: true, padded: false, window: 33 },
  { B: 1, H: 2, Hkv: 1, T: 700, S: 700, D: 8, causal: true, padded: false },
];

testEachBackend('attention over several query blocks matches float64 math and finite differences', () => {
  BLOCK_CASES.forEach((c, i) => {
    const q = randn([c.B, c.H, c.T, c.D], 10 * i + 31, true);
    const k = randn([c.B, c.Hkv, c.S, c.D], 10 * i + 32, true);
    const v = randn([c.B, c.Hkv, c.S, c.D], 10 * i + 33, true);
    const mask = maskFor(c);
    const out = scaledDotProductAttention(q, k, v, { causal: c.causal, keyPaddingMask: mask, window: c.window, softcap: c.softcap, segmented: c.segmented });
    assertClose(out.data, attention64(q.data, k.data, v.data, c.B, c.H, c.Hkv, c.T, c.S, c.D, c.causal, mask, c.window, c.softcap, c.segmented), `block case ${i}`);
    assertGradcheck((a, b, d) => scaledDotProductAttention(a, b, d, { causal: c.causal, keyPaddingMask: mask, window: c.window, softcap: c.softcap, segmented: c.segmented }), [q, k, v], `block case ${i}`, { maxProbesPerInput: 12 });
  });
});

test('native and ref agree on the gradients of multi-block attention', () => {
  BLOCK_CASES.forEach((c, i) => {
    const q = randn([c.B, c.H, c.T, c.D], 10 * i + 41, true);
    const k = randn([c.B, c.Hkv, c.S, c.D], 10 * i + 42, true);
    const v = randn([c.B, c.Hkv, c.S, c.D], 10 * i + 43, true);
    const g = randn([c.B, c.H, c.T, c.D], 10 * i + 44);
    for (const which of [0, 1, 2]) {
      assertBackendsAgree(() => {
        const out = scaledDotProductAttention(q, k, v, { causal: c.causal, keyPaddingMask: maskFor(c), window: c.window, softcap: c.softcap, segmented: c.segmented });
        out.backward(g);
        const grad = [q, k, v][which]!.grad!.clone();
        for (const t of [q, k, v]) t.zeroGrad();
        return grad;
      }, `block case ${i}, grad of input ${which}`, 1e-4, 1e-3);
    }
  });
});

test('attention shape errors name the shapes', () => {
  assert.throws(() => scaledDotProductAttention(randn([1, 3, 2, 4], 1), randn([1, 2, 2, 4], 2), randn([1, 2, 2, 4], 3)),
    /attention\(q \[1, 3, 2, 4\], k \[1, 2, 2, 4\], v \[1, 2, 2, 4\]\): query heads \(3\) must be a multiple of key\/value heads \(2\)/);
  assert.throws(() => scaledDotProductAttention(randn([1, 2, 2, 4], 1), randn([1, 2, 2, 8], 2), randn([1, 2, 2, 8], 3)), /k must be \[1, heads, seq, 4\]/);
  assert.throws(() => scaledDotProductAttention(randn([1, 1, 2, 4], 1), randn([1, 1, 2, 4], 2), randn([1, 1, 2, 4], 3), { window: 2 }), /a sliding window needs the causal mask/);
  assert.throws(() => scaledDotProductAttention(randn([1, 1, 2, 4], 1), randn([1, 1, 2, 4], 2), randn([1, 1, 2, 4], 3), { causal: true, window: 1.5 }), /window must be a non-negative integer, got 1.5/);
});

/** The attention composed of ops, dropout() on its probabilities: what the fused kernels' dropout must equal. */
function composedDroppedAttention(q: Tensor, k: Tensor, v: Tensor, keyPaddingMask: Float32Array, p: number, rng: Random): Tensor {
  const [B, , , D] = q.shape as [number, number, number, number];
  const S = k.shape[2]!;
  const padding = Tensor.fromArray(Array.from(keyPaddingMask, (m) => (m > 0 ? 0 : -1e30)), [B, 1, 1, S]);
  const probabilities = softmax(add(scale(matmul(q, k, { transposeB: true }), 1 / Math.sqrt(D)), padding));
  return matmul(dropout(probabilities, p, rng), v);
}

testEachBackend('attention\'s dropout drawn inside the kernels equals softmax, dropout() and matmul composed with the same generator: output and gradients, few queries and blocks of 64', () => {
  // T 16: the native kernel's few-query path (T x group <= 16); T 70: two blocks of 64 queries.
  for (const [B, H, T, D] of [[2, 3, 16, 8], [1, 2, 70, 16]] as const) {
    const keyPaddingMask = Float32Array.from({ length: B * T }, (_, i) => (i % T < T - 3 || i < T ? 1 : 0));
    const q = randn([B, H, T, D], 41, true);
    const k = randn([B, H, T, D], 42, true);
    const v = randn([B, H, T, D], 43, true);
    const g = Tensor.fromArray(Array.from({ length: B * H * T * D }, (_, i) => Math.cos(i)), [B, H, T, D]);
    const run = (attend: (rng: Random) => Tensor) => {
      for (const t of [q, k, v]) t.grad = null;
      const rng = new Random(77);
      const out = attend(rng);
      out.backward(g);
      return { out: out.toFloat32Array(), grads: [q, k, v].map((t) => t.grad!.toFloat32Array()), next: rng.nextUint32() };
    };
    const fused = run((rng) => scaledDotProductAttention(q, k, v, { keyPaddingMask, dropout: { p: 0.3, rng } }));
    const composed = run((rng) => composedDroppedAttention(q, k, v, keyPaddingMask, 0.3, rng));
    const label = `B${B} H${H} T${T} D${D}`;
    assertClose(fused.out, composed.out, `${label}: forward`, 1e-5, 1e-5);
    fused.grads.forEach((gr, i) => assertClose(gr, composed.grads[i]!, `${label}: gradient of ${'qkv'[i]}`, 1e-5, 1e-4));
    assert.equal(fused.next, composed.next, `${label}: the generator moved by dropout()'s two draws`);
    // Something was dropped: the same generator without dropout gives another output.
    const undropped = scaledDotProductAttention(q, k, v, { keyPaddingMask }).toFloat32Array();
    assert.ok(undropped.some((x, i) => Math.abs(x - fused.out[i]!) > 1e-3), `${label}: dropping changed the output`);
  }
  // A fixed key (the generator reseeded at every call) makes the dropped attention a function finite differences can probe.
  const [q, k, v] = [51, 52, 53].map((seed) => randn([2, 2, 5, 4], seed, true)) as [Tensor, Tensor, Tensor];
  const keyPaddingMask = Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
  assertGradcheck((a, b, c) => scaledDotProductAttention(a, b, c, { keyPaddingMask, dropout: { p: 0.3, rng: new Random(5) } }), [q, k, v], 'dropped attention');
  // Frozen q, k, v under a trained weight (a head on a frozen encoder): the backward reaches only the weight.
  const frozen = scaledDotProductAttention(randn([2, 2, 5, 4], 44), randn([2, 2, 5, 4], 45), randn([2, 2, 5, 4], 46), { keyPaddingMask, dropout: { p: 0.3, rng: new Random(3) } });
  const w = randn([2, 2, 5, 4], 47, true);
  mul(frozen, w).backward(Tensor.ones([2, 2, 5, 4]));
  assert.deepEqual(Array.from(w.grad!.data), Array.from(frozen.data), 'the weight\'s gradient is the attention\'s output');
  assert.throws(() => scaledDotProductAttention(q, k, v, { causal: true, dropout: { p: 0.1, rng: new Random(1) } }), /dropout is for encoder attention/);
  assert.throws(() => scaledDotProductAttention(q, k, v, { dropout: { p: 1, rng: new Random(1) } }), /dropout's p must be in \[0, 1\), got 1/);
  assert.throws(() => scaledDotProductAttention(q, k, v, { dropout: { p: 0.1, rng: {} as Random } }), (e: Error) => e.name === 'GiftjsError' && /attention\(q .*\): dropout's rng must be a Random .*got an object/.test(e.message));
  assert.throws(() => scaledDotProductAttention(q, k, v, { dropout: { p: Number.NaN, rng: new Random(1) } }), /dropout's p must be in \[0, 1\), got NaN/);
  assert.throws(() => scaledDotProductAttention(q, k, v, { dropout: { p: 0.1, rng: new Random(1), constructor: 1 } as never }), /scaledDotProductAttention dropout: unknown option 'constructor' \(its options: p, rng\)/);
});

test('attention\'s dropout holds nothing the attention without dropout does not (a dry run\'s pool after the forward)', () => {
  const [B, H, T, D] = [2, 3, 16, 8];
  const pool = poolFor(metaMemory);
  const heldBy = (dropping: boolean) => withBackend(metaDryRunBackend, () => tidy(() => {
    const [q, k, v] = [0, 1, 2].map(() => Tensor.empty([B, H, T, D]).requireGrad());
    const before = pool.liveBytes;
    const out = scaledDotProductAttention(q!, k!, v!, dropping ? { dropout: { p: 0.3, rng: new Random(77) } } : {});
    const held = pool.liveBytes - before;
    out.backward(Tensor.empty(out.shape));
    return held;
  }));
  assert.equal(heldBy(true), heldBy(false), 'held after the forward, with dropout and without');
});

testEachBackend('attention\'s dropout under a generator whose draws a subclass replaces is composed of softmax, dropout() and matmul, transformers\' way', () => {
  /** Draws 0.99 always: nothing falls below p, so every probability is kept and scaled by 1 / (1 - p). */
  class KeepAll extends Random {
    override uniform(): number {
      return 0.99;
    }
  }
  const [q, k, v] = [31, 32, 33].map((seed) => randn([2, 2, 5, 4], seed, true)) as [Tensor, Tensor, Tensor];
  const keyPaddingMask = Float32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
  const fused = scaledDotProductAttention(q, k, v, { keyPaddingMask });
  const composed = scaledDotProductAttention(q, k, v, { keyPaddingMask, dropout: { p: 0.3, rng: new KeepAll(0) } });
  assertClose(composed.data, fused.data.map((x) => x / 0.7), 'forward: every probability kept, scaled', 1e-5, 1e-5);
  const grads = (out: Tensor) => {
    for (const t of [q, k, v]) t.grad = null;
    out.backward(Tensor.fromArray(Array.from({ length: out.size }, (_, i) => Math.sin(i)), out.shape));
    return [q, k, v].map((t) => Float32Array.from(t.grad!.data));
  };
  const [gf, gc] = [grads(fused), grads(composed)];
  gc.forEach((g, i) => assertClose(g, gf[i]!.map((x) => x / 0.7), `gradient ${'qkv'[i]}`, 1e-5, 1e-4));
});

const bf16Native = isNativeAvailable() && (nativeAddon()?.cpuInfo().features.includes('avx512bf16') ?? false);
/** Encoder attention in training: dropout on the probabilities, over few queries and over blocks of 64. */
const DROPOUT_CASES: Case[] = [
  { B: 2, H: 2, Hkv: 2, T: 9, S: 9, D: 32, causal: false, padded: true, dropout: 0.3 },
  { B: 1, H: 2, Hkv: 2, T: 70, S: 70, D: 16, causal: false, padded: true, dropout: 0.3 },
];

test('bf16 compute: native and ref attention round the same operands to bf16, forward and gradients', { skip: bf16Native ? false : 'no native AVX-512 BF16 here' }, () => {
  [...BLOCK_CASES, ...DECODING_CASES, ...DROPOUT_CASES].forEach((c, i) => {
    const q = randn([c.B, c.H, c.T, c.D], 10 * i + 51, true);
    const k = randn([c.B, c.Hkv, c.S, c.D], 10 * i + 52, true);
    const v = randn([c.B, c.Hkv, c.S, c.D], 10 * i + 53, true);
    const g = randn([c.B, c.H, c.T, c.D], 10 * i + 54);
    const run = () => {
      const dropout = c.dropout ? { dropout: { p: c.dropout, rng: new Random(9) } } : {};
      const out = scaledDotProductAttention(q, k, v, { causal: c.causal, keyPaddingMask: maskFor(c), window: c.window, softcap: c.softcap, segmented: c.segmented, ...dropout });
      out.backward(g);
      const result = [out.toFloat32Array(), ...[q, k, v].map((t) => t.grad!.toFloat32Array())];
      for (const t of [q, k, v]) t.zeroGrad();
      return result;
    };
    const f32 = withBackend('native', run);
    // bf16 compute is each backend's own switch.
    const withBf16 = (backend: 'native' | 'ref') => withBackend(backend, () => {
      setBf16Compute(true);
      try {
        return run();
      } finally {
        setBf16Compute(false);
      }
    });
    {
      const native = withBf16('native');
      const ref = withBf16('ref');
      native.forEach((values, j) => {
        assertClose(values, ref[j]!, `bf16 block case ${i}, ${['output', 'dq', 'dk', 'dv'][j]}: native vs ref`, 5e-4, 5e-3);
      });
      // bf16 products really ran: they differ from float32 by about bf16's precision.
      assert.ok(native[0]!.some((x, j) => Math.abs(x - f32[0]![j]!) > 1e-4), `bf16 block case ${i}: the output changed`);
      assertClose(native[0]!, f32[0]!, `bf16 block case ${i}: output within bf16 precision of float32`, 3e-2, 3e-2);
    }
  });
});

// The native kernel packs each head's keys and values once for every query block. A block reads
// the first keys it sees: an infinite key or value just past them (a later position) must not
// reach it. Under bf16 products a packed slot holds two keys, so a block seeing an odd number of
// them would multiply its zero padding by the next key (0 * inf = NaN) if it read the shared slots.
test('keys and values past those a query block sees stay out of it, infinite ones too, in float32 and bf16 products', { skip: isNativeAvailable() ? false : 'no native addon here' }, () => {
  // Queries are the last 70 of 201 positions: the first block (64 rows) sees keys 0-194.
  const [B, H, Hkv, T, S, D, hidden] = [1, 2, 1, 70, 201, 8, 195];
  for (const bf16 of bf16Native ? [false, true] : [false]) {
    withBackend('native', () => {
      setBf16Compute(bf16);
      try {
        const q = randn([B, H, T, D], 61, true);
        const k = randn([B, Hkv, S, D], 62, true);
        const v = randn([B, Hkv, S, D], 63, true);
        for (const t of [k, v]) for (let d = 0; d < D; d++) t.data[hidden * D + d] = Infinity;
        const out = scaledDotProductAttention(q, k, v, { causal: true });
        out.backward(randn([B, H, T, D], 64));
        for (const [name, values] of [['output', out.data], ['dq', q.grad!.data]] as const) {
          for (let h = 0; h < H; h++) {
            const firstBlock = values.subarray(h * T * D, (h * T + 64) * D);
            assert.ok(firstBlock.every(Number.isFinite), `${bf16 ? 'bf16' : 'float32'} ${name}, head ${h}: the rows before key ${hidden} stay finite`);
          }
        }
      } finally {
        setBf16Compute(false);
      }
    });
  }
});

test('attention over a KV cache\'s storage (keyLength of its rows) equals attention over the keys alone; a gradient through it is refused', () => {
  for (const backend of ['ref', 'native'] as const) {
    if (backend === 'native' && !isNativeAvailable()) continue;
    withBackend(backend, () => {
      const [B, H, Hkv, T, S, D, rows] = [2, 4, 2, 2, 6, 16, 11];
      const r = new Random(5);
      const q = Tensor.randn([B, H, T, D], r);
      const k = Tensor.randn([B, Hkv, S, D], r);
      const v = Tensor.randn([B, Hkv, S, D], r);
      const storage = (t: Tensor) => {
        const a = new Float32Array(B * Hkv * rows * D).fill(NaN);
        for (let head = 0; head < B * Hkv; head++) a.set(t.data.subarray(head * S * D, (head + 1) * S * D), head * rows * D);
        return new Tensor(a, [B, Hkv, rows, D]);
      };
      const mask = Float32Array.from({ length: B * S }, (_, i) => (i === S + 2 ? 0 : 1));
      const expected = scaledDotProductAttention(q, k, v, { causal: true, keyPaddingMask: mask });
      const actual = noGrad(() => scaledDotProductAttention(q, storage(k), storage(v), { causal: true, keyPaddingMask: mask, keyLength: S }));
      assert.deepEqual(Array.from(actual.data), Array.from(expected.data), backend);
      const kg = storage(k);
      kg.requiresGrad = true;
      assert.throws(() => scaledDotProductAttention(q, kg, storage(v), { causal: true, keyLength: S }), /keyLength \(6 of 11 rows\) is for generation without gradients/);
      assert.throws(() => scaledDotProductAttention(q, storage(k), storage(v), { keyLength: 12 }), /keyLength must be a whole number from 0 to k's 11 rows, got 12/);
    });
  }
});

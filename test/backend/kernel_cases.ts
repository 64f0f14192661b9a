// One table of kernel cases that every backend runs against the ref backend, on the same seeded
// inputs (odd shapes, several tiles and workgroups, broadcasting, transposes, masks, NaN and -Infinity
// where the reference defines what comes out): native and boxed in Node (kernel_cases.test.ts),
// webgpu in a browser page (test/webgpu/kernel_checks.ts). A backend is read back only through its
// memory's downloadAsync, the one read every backend offers.
import { ActivationKind, BinaryOp, type Backend, type DeviceBuffer } from '../../src/backend/backend.js';
import { refBackend } from '../../src/backend/ref/index.js';
import { dropBelowOf } from '../../src/backend/ref/dropout.js';
import { Random } from '../../src/tensor/random.js';

export interface KernelCheck {
  name: string;
  ok: boolean;
  /** The worst element, as text, or the error the kernel raised. */
  detail: string;
}

type Arrays = Record<string, Float32Array>;
type Buffers = Record<string, DeviceBuffer>;

let seed = 1;
export function normal(n: number, scale = 1): Float32Array {
  const r = new Random(seed++);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.normal() * scale;
  return a;
}
function uniform(n: number, lo: number, hi: number): Float32Array {
  const r = new Random(seed++);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r.uniform();
  return a;
}

/** Where actual and expected differ beyond atol + rtol |expected| (NaN and infinities must match exactly), or null. */
function firstMismatch(actual: Float32Array, expected: Float32Array, atol: number, rtol: number): string | null {
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
      return `element ${i} is ${a}, expected ${e}`;
    }
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) return `element ${i} is ${a}, expected ${e} (|diff| ${Math.abs(a - e).toExponential(2)})`;
  }
  return null;
}

/** Every case of the table on `candidate`, each compared with ref's result. */
export async function runKernelCases(candidate: Backend): Promise<KernelCheck[]> {
  seed = 1; // the same inputs on every backend and every run
  const results: KernelCheck[] = [];

  /** Runs `kernel` on ref and on the candidate from copies of `arrays`, then compares the named outputs. */
  async function check(name: string, arrays: Arrays, outputs: string[], kernel: (b: Backend, x: Buffers) => void, atol = 1e-5, rtol = 1e-4): Promise<void> {
    try {
      const refArrays: Buffers = Object.fromEntries(Object.entries(arrays).map(([k, v]) => [k, v.slice()]));
      kernel(refBackend, refArrays);
      const buffers: Buffers = {};
      for (const [k, v] of Object.entries(arrays)) {
        buffers[k] = candidate.memory.alloc(v.length);
        candidate.memory.upload(buffers[k]!, v.slice());
      }
      kernel(candidate, buffers);
      const problems: string[] = [];
      for (const out of outputs) {
        const actual = (await candidate.memory.downloadAsync(buffers[out]!)) as Float32Array;
        const bad = firstMismatch(actual, refArrays[out] as Float32Array, atol, rtol);
        if (bad) problems.push(`${out}: ${bad}`);
      }
      for (const b of Object.values(buffers)) candidate.memory.free(b);
      results.push({ name, ok: problems.length === 0, detail: problems.join('; ') || 'matches ref' });
    } catch (e) {
      results.push({ name, ok: false, detail: `threw: ${(e as Error).message}` });
    }
  }

  // GEMM: every transpose, tiles that do not divide the shape, batches with strides and offsets.
  for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    for (const beta of [0, 0.5]) {
      const [M, N, K, batch] = [67, 70, 37, 3];
      const lda = transA ? M + 3 : K + 2;
      const ldb = transB ? K + 1 : N + 5;
      const strideA = (transA ? K : M) * lda + 4;
      const strideB = (transB ? N : K) * ldb + 2;
      const ldc = N + 1;
      const strideC = M * ldc + 3;
      const C = beta === 0 ? new Float32Array(batch * strideC).fill(NaN) : normal(batch * strideC);
      await check(`gemm transA=${transA} transB=${transB} beta=${beta}`, { A: normal(7 + batch * strideA), B: normal(5 + batch * strideB), C }, ['C'], (b, x) =>
        b.gemm({ transA, transB, M, N, K, alpha: 0.75, A: x.A!, lda, B: x.B!, ldb, beta, C: x.C!, ldc, batch, strideA, strideB, strideC, offsetA: 7, offsetB: 5 }),
      1e-4);
    }
  }
  await check('gemm K spanning many tiles', { A: normal(130 * 300), B: normal(300 * 129), C: new Float32Array(130 * 129) }, ['C'], (b, x) =>
    b.gemm({ transA: false, transB: false, M: 130, N: 129, K: 300, alpha: 1, A: x.A!, lda: 300, B: x.B!, ldb: 129, beta: 0, C: x.C!, ldc: 129, batch: 1, strideA: 0, strideB: 0, strideC: 0 }),
  2e-4);

  // Broadcasting arithmetic, strided copies, RoPE.
  const shape = [3, 5, 7];
  for (const op of [BinaryOp.Add, BinaryOp.Sub, BinaryOp.Mul, BinaryOp.Div]) {
    await check(`binary op ${op} broadcast`, { a: normal(105), b: uniform(35, 0.5, 2), out: new Float32Array(105) }, ['out'], (b, x) =>
      b.binary(op, shape, x.a!, [35, 7, 1], x.b!, [0, 7, 1], x.out!));
  }
  await check('binary in place (out is a)', { a: normal(105), b: normal(7) }, ['a'], (b, x) => b.binary(BinaryOp.Mul, shape, x.a!, [35, 7, 1], x.b!, [0, 0, 1], x.a!));
  await check('copyStrided permute [2,3,4,5] -> (0,2,1,3)', { src: normal(120), dst: new Float32Array(120) }, ['dst'], (b, x) =>
    b.copyStrided([2, 4, 3, 5], x.src!, [60, 5, 20, 1], x.dst!));
  await check('copyStrided broadcast', { src: normal(6), dst: new Float32Array(24) }, ['dst'], (b, x) => b.copyStrided([4, 6], x.src!, [0, 1], x.dst!));
  for (const direction of [1, -1] as const) {
    await check(`ropeRotate direction ${direction}`, { src: normal(10 * 12), dst: new Float32Array(120), cos: normal(5 * 6), sin: normal(5 * 6) }, ['dst'], (b, x) =>
      b.ropeRotate(x.src!, x.dst!, x.cos!, x.sin!, 10, 5, 12, direction));
  }
  await check('ropeRotate in place', { src: normal(120), cos: normal(30), sin: normal(30) }, ['src'], (b, x) => b.ropeRotate(x.src!, x.src!, x.cos!, x.sin!, 10, 5, 12, 1));

  // Activations and SwiGLU, with a NaN and large arguments.
  const xs = uniform(1000, -6, 6);
  xs.set([NaN, 40, -40, 0, 1e-8], 0);
  for (const kind of [ActivationKind.GeluErf, ActivationKind.GeluTanh, ActivationKind.Silu, ActivationKind.Relu, ActivationKind.Tanh]) {
    await check(`activation ${ActivationKind[kind]} forward`, { x: xs, y: new Float32Array(1000) }, ['y'], (b, x) => b.activationForward(kind, x.x!, x.y!, 1000), 2e-6);
    await check(`activation ${ActivationKind[kind]} backward`, { x: xs, dy: normal(1000), dx: new Float32Array(1000) }, ['dx'], (b, x) => b.activationBackward(kind, x.x!, x.dy!, x.dx!, 1000), 2e-6);
  }
  await check('swiglu forward', { g: xs, u: normal(1000), y: new Float32Array(1000) }, ['y'], (b, x) => b.swigluForward(x.g!, x.u!, x.y!, 1000));
  await check('swiglu backward', { g: xs, u: normal(1000), dy: normal(1000), dg: new Float32Array(1000), du: new Float32Array(1000) }, ['dg', 'du'], (b, x) =>
    b.swigluBackward(x.g!, x.u!, x.dy!, x.dg!, x.du!, 1000));
  // Dropout's mask from the hash of (key, index): bit for bit ref's, NaN and infinities multiplied as they are,
  // over vector tails and several threads' ranges (40,007 values), at keys whose index + key0 wraps.
  const dropIn = Float32Array.from(normal(40_007), (v, i) => (i === 5 ? NaN : i === 6 ? -Infinity : i === 7 ? Infinity : v));
  for (const [p, key0, key1] of [[0.1, 12345, 678910], [0.5, 0xfffffff0, 0xdeadbeef], [0.9, 7, 0]] as const) {
    await check(`dropoutMultiply p ${p}`, { x: dropIn, y: new Float32Array(dropIn.length) }, ['y'], (b, x) =>
      b.dropoutMultiply(x.x!, x.y!, dropIn.length, key0, key1, dropBelowOf(p), 1 / (1 - p)), 0, 0);
  }
  await check('swiglu backward, dgate only', { g: xs, u: normal(1000), dy: normal(1000), dg: new Float32Array(1000) }, ['dg'], (b, x) =>
    b.swigluBackward(x.g!, x.u!, x.dy!, x.dg!, null, 1000));

  // Norms: more columns than threads, dw accumulating onto what it held.
  const [rows, cols] = [7, 300];
  await check('rmsNorm forward', { x: normal(rows * cols), w: normal(cols), y: new Float32Array(rows * cols), rstd: new Float32Array(rows) }, ['y', 'rstd'], (b, x) =>
    b.rmsNormForward(x.x!, x.w!, x.y!, x.rstd!, rows, cols, 1e-6));
  const rmsX = normal(rows * cols);
  const rstd = new Float32Array(rows);
  refBackend.rmsNormForward(rmsX, normal(cols), new Float32Array(rows * cols), rstd, rows, cols, 1e-6);
  await check('rmsNorm backward', { x: rmsX, w: normal(cols), rstd, dy: normal(rows * cols), dx: new Float32Array(rows * cols), dw: normal(cols) }, ['dx', 'dw'], (b, x) =>
    b.rmsNormBackward(x.x!, x.w!, x.rstd!, x.dy!, x.dx!, x.dw!, rows, cols));
  for (const affine of [true, false]) {
    await check(`layerNorm forward affine=${affine}`, { x: normal(rows * cols, 3), w: normal(cols), b: normal(cols), y: new Float32Array(rows * cols), mean: new Float32Array(rows), rstd: new Float32Array(rows) },
      ['y', 'mean', 'rstd'], (b, x) => b.layerNormForward(x.x!, affine ? x.w! : null, affine ? x.b! : null, x.y!, x.mean!, x.rstd!, rows, cols, 1e-5));
    const lx = normal(rows * cols, 3);
    const [mean, lrstd] = [new Float32Array(rows), new Float32Array(rows)];
    refBackend.layerNormForward(lx, null, null, new Float32Array(rows * cols), mean, lrstd, rows, cols, 1e-5);
    await check(`layerNorm backward affine=${affine}`, { x: lx, w: normal(cols), mean, rstd: lrstd, dy: normal(rows * cols), dx: new Float32Array(rows * cols), dw: normal(cols), db: normal(cols) },
      affine ? ['dx', 'dw', 'db'] : ['dx'], (b, x) => b.layerNormBackward(x.x!, affine ? x.w! : null, x.mean!, x.rstd!, x.dy!, x.dx!, affine ? x.dw! : null, affine ? x.db! : null, rows, cols));
  }

  // Softmax family: rows with -Infinity, one all -Infinity, one with NaN.
  const sm = normal(5 * 513, 3);
  sm.fill(-Infinity, 0, 100);
  sm.fill(-Infinity, 513, 1026);
  sm[2 * 513 + 7] = NaN;
  for (const log of [false, true]) {
    const name = log ? 'logSoftmax' : 'softmax';
    await check(`${name} forward`, { x: sm, y: new Float32Array(sm.length) }, ['y'], (b, x) => (log ? b.logSoftmaxForward : b.softmaxForward)(x.x!, x.y!, 5, 513));
    const y = new Float32Array(4 * 513);
    (log ? refBackend.logSoftmaxForward : refBackend.softmaxForward)(normal(4 * 513, 3), y, 4, 513);
    y[3 * 513 + 11] = NaN;
    await check(`${name} backward`, { y, dy: normal(y.length), dx: new Float32Array(y.length) }, ['dx'], (b, x) => (log ? b.logSoftmaxBackward : b.softmaxBackward)(x.y!, x.dy!, x.dx!, 4, 513));
  }
  const vocab = 300;
  const targets = Int32Array.from([5, -100, 299, 0, 17, -100]);
  const logits = normal(6 * vocab, 4);
  logits[3 * vocab + 100] = NaN; // a NaN logit makes its row's loss and gradient NaN
  const lse = new Float32Array(6);
  refBackend.crossEntropyForward(logits, targets, new Float32Array(6), lse, 6, vocab, -100);
  await check('crossEntropy forward', { logits, loss: new Float32Array(6), lse: new Float32Array(6) }, ['loss', 'lse'], (b, x) =>
    b.crossEntropyForward(x.logits!, targets, x.loss!, x.lse!, 6, vocab, -100));
  await check('crossEntropy backward', { logits, lse, scale: uniform(6, 0.1, 1), d: new Float32Array(6 * vocab) }, ['d'], (b, x) =>
    b.crossEntropyBackward(x.logits!, targets, x.lse!, x.scale!, x.d!, 6, vocab, -100));
  // Written over the logits (linearCrossEntropy's chunks): the same values as into a buffer of their own.
  const rowScale = uniform(6, 0.1, 1);
  const apart = new Float32Array(6 * vocab);
  refBackend.crossEntropyBackward(logits, targets, lse, rowScale, apart, 6, vocab, -100);
  const overLogits = logits.slice();
  refBackend.crossEntropyBackward(overLogits, targets, lse, rowScale, overLogits, 6, vocab, -100);
  results.push({ name: 'crossEntropy backward in place on ref equals it apart', ok: firstMismatch(overLogits, apart, 0, 0) === null, detail: firstMismatch(overLogits, apart, 0, 0) ?? '' });
  await check('crossEntropy backward in place', { logits, lse, scale: rowScale }, ['logits'], (b, x) =>
    b.crossEntropyBackward(x.logits!, targets, x.lse!, x.scale!, x.logits!, 6, vocab, -100));

  // Attention: grouped-query heads, causal and padded, head sizes below and above one block of 64, more keys than a block,
  // sliding windows (shorter than the keys, and straddling a block of 64), soft-capped scores; dropout on the
  // probabilities, its mask drawn inside the kernels from each one's flat index ((b H + h) T + t) S + j at a key whose
  // index + key0 wraps, over few queries (T 9) and blocks of 64 (T 70).
  for (const [B, H, Hkv, T, S, D, causal, masked, window, softcap, segmented, dropout] of [
    [2, 4, 2, 5, 7, 24, true, true, 0, 0, false, 0], [2, 4, 2, 5, 7, 24, false, true, 0, 0, false, 0], [1, 3, 1, 70, 70, 80, true, false, 0, 0, false, 0], [2, 2, 2, 9, 9, 16, false, false, 0, 0, false, 0],
    [2, 4, 2, 5, 7, 24, true, true, 3, 0, false, 0], [1, 2, 1, 80, 90, 16, true, false, 50, 0, false, 0], [2, 4, 2, 5, 7, 24, true, true, 3, 0.7, false, 0],
    [2, 2, 1, 9, 9, 16, true, true, 0, 0, true, 0],
    [2, 2, 2, 9, 9, 16, false, true, 0, 0, false, 0.3], [1, 2, 2, 70, 70, 80, false, true, 0, 0, false, 0.3],
  ] as const) {
    const s = { B, H, Hkv, T, S, D, scale: 1 / Math.sqrt(D), causal, window, softcap, segmented, kvRows: S,
      ...(dropout ? { dropout: { key0: 0xffffff00, key1: 0x9e3779b9, dropBelow: dropBelowOf(dropout), keepScale: 1 / (1 - dropout) } } : {}) };
    // Segmented: packed rows of segments 1, 2 (and padding 0 at the end of the second row).
    const mask = segmented ? Float32Array.from({ length: B * S }, (_, i) => (i >= S && i % S >= S - 2 ? 0 : i % S < 4 ? 1 : 2))
      : masked ? Float32Array.from({ length: B * S }, (_, i) => (i % S >= S - 2 && i >= S ? 0 : 1)) : null;
    if (mask && causal && !segmented) mask.fill(0, 0, S - T + 1); // batch 0: the first query row sees no key at all
    const label = `attention B${B} H${H}/${Hkv} T${T} S${S} D${D}${causal ? ' causal' : ''}${masked ? ' padded' : ''}${window ? ` window ${window}` : ''}${softcap ? ` softcap ${softcap}` : ''}${segmented ? ' segmented' : ''}${dropout ? `, dropout ${dropout}` : ''}`;
    const q = normal(B * H * T * D);
    q[D + 3] = NaN; // the second query row of the first head: NaN out and lse, NaN gradients
    const inputs = { q, k: normal(B * Hkv * S * D), v: normal(B * Hkv * S * D), ...(mask ? { mask } : {}) };
    await check(`${label} forward`, { ...inputs, out: new Float32Array(B * H * T * D), lse: new Float32Array(B * H * T) }, ['out', 'lse'], (b, x) =>
      b.attentionForward(s, x.q!, x.k!, x.v!, x.mask ?? null, x.out!, x.lse!), 1e-5, 1e-4);
    const out = new Float32Array(B * H * T * D);
    const alse = new Float32Array(B * H * T);
    refBackend.attentionForward(s, inputs.q, inputs.k, inputs.v, mask, out, alse);
    await check(`${label} backward`, { ...inputs, out, lse: alse, dout: normal(out.length), dq: new Float32Array(out.length), dk: normal(inputs.k.length), dv: normal(inputs.v.length) },
      ['dq', 'dk', 'dv'], (b, x) => b.attentionBackward(s, x.q!, x.k!, x.v!, x.mask ?? null, x.out!, x.lse!, x.dout!, x.dq!, x.dk!, x.dv!), 2e-5, 2e-4);
  }

  // Attention over a KV cache's storage: 12 rows per key/value head, of which the first 7 (prefill) or 8 (one decoded
  // token) are keys; the rows past them hold NaN, which no output may show.
  for (const [T, S] of [[3, 7], [1, 8]] as const) {
    const [B, H, Hkv, D, rows] = [2, 4, 2, 24, 12];
    const s = { B, H, Hkv, T, S, D, scale: 1 / Math.sqrt(D), causal: true, window: 0, softcap: 0, segmented: false, kvRows: rows };
    const stored = () => {
      const a = normal(B * Hkv * rows * D);
      for (let head = 0; head < B * Hkv; head++) a.fill(NaN, (head * rows + S) * D, (head + 1) * rows * D);
      return a;
    };
    const mask = Float32Array.from({ length: B * S }, (_, i) => (i === S + 1 ? 0 : 1));
    await check(`attention over a KV cache's storage T${T} S${S} of ${rows} rows`, { q: normal(B * H * T * D), k: stored(), v: stored(), mask, out: new Float32Array(B * H * T * D), lse: new Float32Array(B * H * T) },
      ['out', 'lse'], (b, x) => b.attentionForward(s, x.q!, x.k!, x.v!, x.mask!, x.out!, x.lse!), 1e-5, 1e-4);
  }

  // Bookkeeping: fill, block copies, gather / scatter-add with repeated ids, reductions, scaling, AdamW.
  await check('fill', { a: normal(1000) }, ['a'], (b, x) => b.fill(x.a!, -2.5, 777));
  await check('copyBlocks', { src: normal(200), dst: normal(300) }, ['dst'], (b, x) => b.copyBlocks(x.src!, 3, 17, x.dst!, 5, 23, 9, 11));
  const ids = Int32Array.from([3, 0, 3, 7, 1, 3]);
  await check('gatherRows', { table: normal(8 * 13), out: new Float32Array(6 * 13) }, ['out'], (b, x) => b.gatherRows(x.table!, ids, x.out!, 13));
  await check('scatterAddRows (repeated ids)', { g: normal(6 * 13), table: normal(8 * 13) }, ['table'], (b, x) => b.scatterAddRows(x.g!, ids, x.table!, 13));
  await check('reduceSum over rows (bias gradient)', { src: normal(37 * 19), out: new Float32Array(19) }, ['out'], (b, x) => b.reduceSum([37, 19], x.src!, [0, 1], x.out!, 1));
  await check('reduceSum over dims 0 and 2, scaled', { src: normal(4 * 5 * 6), out: new Float32Array(5) }, ['out'], (b, x) => b.reduceSum([4, 5, 6], x.src!, [0, 1, 0], x.out!, 0.25));
  await check('reduceSum to a scalar', { src: normal(999), out: new Float32Array(1) }, ['out'], (b, x) => b.reduceSum([999], x.src!, [0], x.out!, 1 / 999));
  await check('reduceSum keeping everything', { src: normal(24), out: new Float32Array(24) }, ['out'], (b, x) => b.reduceSum([2, 3, 4], x.src!, [12, 4, 1], x.out!, 2));
  await check('scaleInPlace', { a: normal(5000) }, ['a'], (b, x) => b.scaleInPlace(x.a!, 0.3, 4999));
  await check('adamwUpdate', { w: normal(3000), g: normal(3000), m: normal(3000, 0.1), v: uniform(3000, 0, 0.1) }, ['w', 'm', 'v'], (b, x) =>
    b.adamwUpdate(x.w!, x.g!, x.m!, x.v!, 3000, { beta1: 0.9, beta2: 0.999, eps: 1e-8, decay: 1 - 1e-3 * 0.01, stepSize: 1e-3 / (1 - 0.9 ** 3), sqrtBc2: Math.sqrt(1 - 0.999 ** 3) }));

  return results;
}

// Matrix products: matmul (batched, optional transposes) and linear (x W^T + b).
// Backward derivation for C = op(A) op(B), with dC the output gradient:
//   d op(A) = dC op(B)^T      d op(B) = op(A)^T dC
// and when an operand is stored transposed its gradient is the transpose of that.
import { getBackend } from '../backend/index.js';
import { record } from '../tensor/autograd.js';
import { shapeString } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import type { DeviceBuffer } from '../backend/backend.js';
import { GiftjsError, refuseUnknownOptions } from '../errors.js';

export interface MatmulOptions {
  /** Use A^T: a is stored [..., K, M]. */
  transposeA?: boolean;
  /** Use B^T: b is stored [..., N, K] (as a Linear weight is). */
  transposeB?: boolean;
}

interface Operand {
  /** float32 values, or bfloat16 bits (a frozen weight; only ever the B operand). */
  data: DeviceBuffer;
  /** Elements before the operand's first value (default 0). */
  offset?: number;
  trans: boolean;
  /** leading dimension (row length as stored) */
  ld: number;
  /** elements between consecutive batch entries (0 = shared) */
  stride: number;
}

/** C (batch x M x N) = alpha * op(A) op(B) + beta * C through the current backend. */
function gemmInto(C: DeviceBuffer, A: Operand, B: Operand, M: number, N: number, K: number, batch: number, beta = 0): void {
  getBackend().gemm({
    transA: A.trans, transB: B.trans, M, N, K, alpha: 1,
    A: A.data, lda: A.ld, B: B.data, ldb: B.ld, beta, C, ldc: N,
    batch, strideA: A.stride, strideB: B.stride, strideC: M * N, offsetA: A.offset, offsetB: B.offset,
  });
}

/** Only a linear layer's frozen weight may be stored as bfloat16, float16 or quantized (the GEMM widens it as it reads it). */
function assertFloat32(where: () => string, ...operands: Tensor[]): void {
  const other = operands.find((t) => t.dtype !== 'float32');
  if (other) throw new GiftjsError(`${where()}: ${other.describe()} is stored as ${other.dtype}; only a linear layer's weight may be`);
}

export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  refuseUnknownOptions(options, ['transposeA', 'transposeB'], 'matmul');
  const transA = options.transposeA ?? false;
  const transB = options.transposeB ?? false;
  const where = (): string => `matmul(${shapeString(a.shape)}${transA ? '^T' : ''}, ${shapeString(b.shape)}${transB ? '^T' : ''})`;
  if (a.rank < 2 || b.rank < 2) throw new GiftjsError(`${where()}: both operands need rank >= 2`);
  assertFloat32(where, a, b);
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const M = transA ? ac : ar;
  const K = transA ? ar : ac;
  const Kb = transB ? bc : br;
  const N = transB ? br : bc;
  if (K !== Kb) throw new GiftjsError(`${where()}: inner dimensions differ (${K} vs ${Kb})`);
  const batchShape = a.shape.slice(0, -2);
  const batch = batchShape.reduce((x, y) => x * y, 1);
  const sharedB = b.rank === 2;
  if (!sharedB && (b.rank !== a.rank || b.shape.slice(0, -2).some((d, i) => d !== batchShape[i]))) {
    throw new GiftjsError(`${where()}: batch dimensions must match, or the second operand must be 2-D`);
  }
  // Without a transpose, a batch of A rows against a shared B is one tall GEMM.
  const fold = sharedB && !transA;
  const strideB = sharedB ? 0 : br * bc;
  // Deferred in a recomputation (a checkpointed layer's) where only the backward reads what it was
  // computed from; the operands are read from their tensors then.
  const out = Tensor.computedBy([...batchShape, M, N], (o) => {
    const A: Operand = { data: a.buffer, trans: transA, ld: ac, stride: ar * ac };
    const B: Operand = { data: b.buffer, trans: transB, ld: bc, stride: strideB };
    if (fold) gemmInto(o, A, B, batch * M, N, K, 1);
    else gemmInto(o, A, B, M, N, K, batch);
  });

  return record('matmul', out, [a, b], (g, needs) => {
    const G: Operand = { data: g.buffer, trans: false, ld: N, stride: M * N };
    const Gt: Operand = { ...G, trans: true };
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (needs[0]) {
      da = Tensor.empty(a.shape);
      const Bs: Operand = { data: b.buffer, trans: !transB, ld: bc, stride: strideB };
      if (!transA) {
        // dA = dC op(B)^T   (M x K)
        if (fold) gemmInto(da.buffer, G, Bs, batch * M, K, N, 1);
        else gemmInto(da.buffer, G, Bs, M, K, N, batch);
      } else {
        // dA = op(B) dC^T   (K x M)
        gemmInto(da.buffer, { ...Bs, trans: transB }, Gt, K, M, N, batch);
      }
    }
    if (needs[1]) {
      db = Tensor.empty(b.shape);
      const As: Operand = { data: a.buffer, trans: !transA, ld: ac, stride: ar * ac };
      if (fold) {
        // Shared B, rows of A folded: one GEMM over all batch rows.
        if (!transB) gemmInto(db.buffer, As, { ...G, stride: 0 }, K, N, batch * M, 1);
        else gemmInto(db.buffer, Gt, { ...As, trans: transA }, N, K, batch * M, 1);
      } else if (sharedB) {
        // Shared B with transposed A: accumulate the batch into one gradient.
        for (let i = 0; i < batch; i++) {
          const Ai: Operand = { ...As, offset: i * ar * ac, stride: 0 };
          const Gi: Operand = { ...G, offset: i * M * N, stride: 0 };
          if (!transB) gemmInto(db.buffer, Ai, Gi, K, N, M, 1, i === 0 ? 0 : 1);
          else gemmInto(db.buffer, { ...Gi, trans: true }, { ...Ai, trans: transA }, N, K, M, 1, i === 0 ? 0 : 1);
        }
      } else if (!transB) {
        gemmInto(db.buffer, As, G, K, N, M, batch); // dB = op(A)^T dC
      } else {
        gemmInto(db.buffer, Gt, { ...As, trans: transA }, N, K, M, batch); // dB = dC^T op(A)
      }
    }
    return [da, db];
  }, [], { inputs: [b.requiresGrad, a.requiresGrad], output: false });
}

/**
 * c + alpha * a @ op(b) (PyTorch's addmm) with a [..., K], op(b) [K, N] (b stored [N, K] with
 * transposeB, as a Linear weight is) and c [..., N]: the product is accumulated straight onto a
 * copy of c by the GEMM (beta = 1), with no temporary for a @ op(b) and no separate addition pass.
 * GIFT's input edit x + s (x psi) phi is addmm(x, x psi, phi, s); LoRA's output y + s (x A^T) B^T
 * is addmm(y, x A^T, B, s, { transposeB: true }).
 */
export function addmm(c: Tensor, a: Tensor, b: Tensor, alpha = 1, options: { transposeB?: boolean } = {}): Tensor {
  const transB = options.transposeB ?? false;
  const where = (): string => `addmm(c ${shapeString(c.shape)}, a ${shapeString(a.shape)}, b ${shapeString(b.shape)}${transB ? '^T' : ''})`;
  if (b.rank !== 2 || a.rank < 1) throw new GiftjsError(`${where()}: b must be 2-D (${transB ? '[N, K]' : '[K, N]'}) and a at least 1-D`);
  assertFloat32(where, a, b, c);
  const [K, N] = (transB ? [b.shape[1], b.shape[0]] : b.shape) as [number, number];
  if (a.shape[a.rank - 1] !== K) throw new GiftjsError(`${where()}: a's last dimension must be ${K}`);
  if (c.rank !== a.rank || c.shape[c.rank - 1] !== N || a.shape.slice(0, -1).some((d, i) => d !== c.shape[i])) {
    throw new GiftjsError(`${where()}: c must be [${[...a.shape.slice(0, -1), N].join(', ')}]`);
  }
  const rows = K === 0 ? c.size / Math.max(N, 1) : a.size / K;
  const out = c.clone();
  const A: Operand = { data: a.buffer, trans: false, ld: K, stride: 0 };
  const B: Operand = { data: b.buffer, trans: transB, ld: b.shape[1]!, stride: 0 };
  gemmScaled(out.buffer, A, B, rows, N, K, alpha, 1);
  return record('addmm', out, [c, a, b], (g, needs) => {
    const G: Operand = { data: g.buffer, trans: false, ld: N, stride: 0 };
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (needs[1]) {
      da = Tensor.empty(a.shape); // da = alpha g op(b)^T
      gemmScaled(da.buffer, G, { ...B, trans: !transB }, rows, K, N, alpha, 0);
    }
    if (needs[2]) {
      db = Tensor.empty(b.shape);
      if (!transB) gemmScaled(db.buffer, { ...A, trans: true }, G, K, N, rows, alpha, 0); // db = alpha a^T g
      else gemmScaled(db.buffer, { ...G, trans: true }, A, N, K, rows, alpha, 0); // db = alpha g^T a
    }
    return [needs[0] ? g : null, da, db];
  }, [], { inputs: [false, b.requiresGrad, a.requiresGrad], output: false });
}

/** C (M x N) = alpha * op(A) op(B) + beta * C, one problem, with C's rows N apart. */
function gemmScaled(C: DeviceBuffer, A: Operand, B: Operand, M: number, N: number, K: number, alpha: number, beta: number): void {
  getBackend().gemm({
    transA: A.trans, transB: B.trans, M, N, K, alpha,
    A: A.data, lda: A.ld, B: B.data, ldb: B.ld, beta, C, ldc: N,
    batch: 1, strideA: 0, strideB: 0, strideC: 0,
  });
}


/**
 * y = x W^T + b, with x [..., in], W [out, in] (Hugging Face's Linear layout), b [out]. W may be
 * stored as bfloat16, float16 or quantized (frozen): it is widened to float32 inside the GEMM, which
 * accumulates in float32.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const where = (): string => `linear(x ${shapeString(x.shape)}, weight ${shapeString(weight.shape)}${bias ? `, bias ${shapeString(bias.shape)}` : ''})`;
  if (weight.rank !== 2) throw new GiftjsError(`${where()}: weight must be 2-D [out, in]`);
  assertFloat32(where, x, ...(bias ? [bias] : []));
  const [outF, inF] = weight.shape as [number, number];
  if (x.rank < 1 || x.shape[x.rank - 1] !== inF) throw new GiftjsError(`${where()}: x's last dimension must be ${inF}`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== outF)) throw new GiftjsError(`${where()}: bias must be [${outF}]`);
  const rows = x.size / inF;
  // Deferred in a checkpointed layer's recomputation: its last projection's output is never read.
  const out = Tensor.computedBy([...x.shape.slice(0, -1), outF], (y) => {
    if (bias) getBackend().copyStrided([rows, outF], bias.buffer, [0, 1], y); // every row starts as the bias
    gemmInto(y, { data: x.buffer, trans: false, ld: inF, stride: 0 }, { data: weight.buffer, trans: true, ld: inF, stride: 0 }, rows, outF, inF, 1, bias ? 1 : 0);
  });
  const inputs = bias ? [x, weight, bias] : [x, weight];
  return record('linear', out, inputs, (g, needs) => {
    const w = weight.buffer; // float32, a frozen weight's bfloat16 bits, or a quantized / float16 frozen weight
    const G: Operand = { data: g.buffer, trans: false, ld: outF, stride: 0 };
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (needs[0]) {
      dx = Tensor.empty(x.shape); // dx = dy W
      gemmInto(dx.buffer, G, { data: w, trans: false, ld: inF, stride: 0 }, rows, inF, outF, 1);
    }
    if (needs[1]) {
      dw = Tensor.empty(weight.shape); // dW = dy^T x
      gemmInto(dw.buffer, { ...G, trans: true }, { data: x.buffer, trans: false, ld: inF, stride: 0 }, outF, inF, rows, 1);
    }
    if (bias && needs[2]) {
      db = Tensor.empty(bias.shape); // db = the column sums of dy
      getBackend().reduceSum([rows, outF], g.buffer, [0, 1], db.buffer, 1);
    }
    return [dx, dw, db];
  }, [], { inputs: [weight.requiresGrad, x.requiresGrad, false], output: false }); // x for dW, W for dx; the bias never
}

// The Backend interface: the kernels, on flat float32 arrays with explicit sizes.
//
// Two implementations: `ref` (plain TypeScript, runs anywhere, the oracle the tests trust) and
// `native` (C++ through N-API, SIMD and threads). Ops in src/ops call this interface for the
// arithmetic and for the data movement that a training step does in volume (broadcasting
// arithmetic, permutes, RoPE); the rare small movements (slices, concats, gathers) are still
// plain TypeScript. A future WebGPU backend implements this same interface.

export type BackendName = 'ref' | 'native';

/** C = alpha * op(A) * op(B) + beta * C, row-major, `batch` times with the given strides. */
export interface GemmArgs {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  A: Float32Array;
  lda: number;
  /** float32 values, or bfloat16 bits of a frozen weight (widened to float32 as it is read). */
  B: Float32Array | Uint16Array;
  ldb: number;
  beta: number;
  C: Float32Array;
  ldc: number;
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
}

export interface AttentionShape {
  B: number;
  H: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
  scale: number;
  causal: boolean;
}

export enum ActivationKind {
  GeluErf = 0,
  GeluTanh = 1,
  Silu = 2,
}

export enum BinaryOp {
  Add = 0,
  Sub = 1,
  Mul = 2,
  Div = 3,
}

type F = Float32Array;

export interface Backend {
  readonly name: BackendName;
  gemm(args: GemmArgs): void;

  rmsNormForward(x: F, w: F, y: F, rstd: F, rows: number, cols: number, eps: number): void;
  /** dx is overwritten, dw accumulated; either may be null (not needed). */
  rmsNormBackward(x: F, w: F, rstd: F, dy: F, dx: F | null, dw: F | null, rows: number, cols: number): void;
  layerNormForward(x: F, w: F | null, b: F | null, y: F, mean: F, rstd: F, rows: number, cols: number, eps: number): void;
  layerNormBackward(x: F, w: F | null, mean: F, rstd: F, dy: F, dx: F | null, dw: F | null, db: F | null, rows: number, cols: number): void;

  softmaxForward(x: F, y: F, rows: number, cols: number): void;
  softmaxBackward(y: F, dy: F, dx: F, rows: number, cols: number): void;
  logSoftmaxForward(x: F, y: F, rows: number, cols: number): void;
  logSoftmaxBackward(y: F, dy: F, dx: F, rows: number, cols: number): void;

  /** Per-row loss (0 where target == ignoreIndex) and log-sum-exp. */
  crossEntropyForward(logits: F, targets: Int32Array, loss: F, lse: F, rows: number, vocab: number, ignoreIndex: number): void;
  /** dlogits = (softmax(logits) - onehot(target)) * rowScale[row]; ignored rows get zeros. */
  crossEntropyBackward(logits: F, targets: Int32Array, lse: F, rowScale: F, dlogits: F, rows: number, vocab: number, ignoreIndex: number): void;

  /** q [B,H,T,D], k/v [B,Hkv,S,D], keyMask [B,S] (0 = padded) or null; out [B,H,T,D], lse [B,H,T]. */
  attentionForward(s: AttentionShape, q: F, k: F, v: F, keyMask: F | null, out: F, lse: F): void;
  attentionBackward(s: AttentionShape, q: F, k: F, v: F, keyMask: F | null, out: F, lse: F, dout: F, dq: F | null, dk: F | null, dv: F | null): void;

  activationForward(kind: ActivationKind, x: F, y: F, n: number): void;
  /** dx = dy * act'(x) */
  activationBackward(kind: ActivationKind, x: F, dy: F, dx: F, n: number): void;

  /** y = silu(gate) * up (Llama's MLP), in one pass. */
  swigluForward(gate: F, up: F, y: F, n: number): void;
  /** dgate = dy * up * silu'(gate), dup = dy * silu(gate); either may be null (not needed). */
  swigluBackward(gate: F, up: F, dy: F, dgate: F | null, dup: F | null, n: number): void;

  /**
   * out = a op b over `shape` (row-major), each operand read through its own strides (0 along a
   * broadcast dimension). out is contiguous; it may be a or b when that operand is contiguous too.
   */
  binary(op: BinaryOp, shape: readonly number[], a: F, aStrides: readonly number[], b: F, bStrides: readonly number[], out: F): void;
  /** dst (contiguous, `shape`) = src read through srcStrides: permutes, transposes, broadcasts. */
  copyStrided(shape: readonly number[], src: F, srcStrides: readonly number[], dst: F): void;
  /**
   * RoPE in the rotate-half form on `rows` vectors of D values; row r sits at position r % T and
   * cos/sin are [T, D / 2]. direction -1 rotates back (the backward). src may be dst.
   */
  ropeRotate(src: F, dst: F, cos: F, sin: F, rows: number, T: number, D: number, direction: 1 | -1): void;
}

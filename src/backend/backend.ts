// The Backend interface: an allocator plus kernels, on flat buffers with explicit sizes.
//
// A backend owns the memory its kernels work on. A tensor's storage is a DeviceBuffer the backend
// allocated; ops, nn modules, models, PEFT methods and the trainer hand those buffers to kernels
// and never index them. The host sees values only at explicit boundaries (Tensor.read() for a
// loss or a file, Tensor.assign() / Tensor.writeHost() for loading), which the backend's memory
// implements. The CPU backends, `ref` (plain TypeScript, the oracle the tests trust) and `native`
// (C++ through N-API, SIMD and threads), share host memory: their buffers are Float32Arrays, so
// the boundaries cost nothing. A device backend (WebGPU) implements the same interface with its
// own memory, without changes to ops/, nn/ or models/; `src/testing/boxed_backend.ts` proves it
// by running every model family on opaque buffers.
import type { QuantizedMatrix } from '../formats/quantized.js';

/** The backends chosen by name (setBackend, GIFTJS_BACKEND); others, webgpu among them, are installed as objects (useBackend). */
export type BackendName = 'ref' | 'native';

/**
 * Memory a backend owns, holding float32 values (or the bfloat16 bits of a frozen weight). A
 * Float32Array / Uint16Array on the CPU backends; an opaque handle on any other.
 */
export interface DeviceBuffer {
  /** Number of elements. */
  readonly length: number;
}

/** Host values: float32, or the bfloat16 bits of a frozen weight. */
export type HostValues = Float32Array | Uint16Array;

/** Where a backend's buffers live and how the host reaches them. */
export interface BackendMemory {
  /** Backends with the same space share buffers (ref and native both use 'host'). */
  readonly space: string;
  /**
   * A new float32 buffer of `length` elements, zeroed (a Float32Array, a WebGPU buffer): the pool
   * hands out recycled buffers with undefined contents, but a fresh one reads as zeros untouched,
   * so a model built only to be loaded costs no resident memory until its weights arrive.
   */
  alloc(length: number): DeviceBuffer;
  /** Gives the buffer back (the host space leaves it to the garbage collector). */
  free(buffer: DeviceBuffer): void;
  /**
   * Returns the buffer's memory to the system now, before free: host memory's garbage collector
   * frees an array only when it runs, and until then its pages stay resident. The buffer is not used
   * again. Absent where free already returns the memory at once (WebGPU).
   */
  discard?(buffer: DeviceBuffer): void;
  /**
   * A buffer of the first `length` values of `buffer`, sharing its memory (`length` at most its
   * length), where the space can make one: the buffer pool then serves a request from an idle buffer
   * somewhat larger than it. Absent where a buffer cannot be cut (WebGPU's are bound whole).
   */
  prefix?(buffer: DeviceBuffer, length: number): DeviceBuffer;
  /** The values in place when the host can address them (host memory), else null. */
  hostView(buffer: DeviceBuffer): HostValues | null;
  /** Copies host values into the buffer (same element type and length). */
  upload(buffer: DeviceBuffer, values: HostValues): void;
  /** The buffer's values on the host: a copy, or the buffer itself in host memory (do not write to it). */
  download(buffer: DeviceBuffer): HostValues;
  /**
   * The buffer's values on the host once all queued work is done: the only read a GPU backend
   * offers (WebGPU maps memory asynchronously); host memory answers at once.
   */
  downloadAsync(buffer: DeviceBuffer): Promise<HostValues>;
  /** A new bfloat16 buffer with the values rounded to nearest even. */
  toBf16(buffer: DeviceBuffer): DeviceBuffer;
  /** Whether the buffer holds bfloat16 bits. */
  isBf16(buffer: DeviceBuffer): boolean;
  /**
   * A bfloat16 buffer holding these bits (the bits of a checkpoint's BF16 tensor, kept as they are
   * stored); absent where bfloat16 weights are not kept (WebGPU computes in float32 only).
   */
  adoptBf16?(bits: Uint16Array): DeviceBuffer;
  /**
   * A buffer holding a quantized frozen weight (--quantize) or an F16 checkpoint's float16 one (the
   * same QuantizedMatrix, format float16); absent where no kernel reads one (WebGPU), and then
   * quantizedOf answers null for every buffer.
   */
  adoptQuantized?(q: QuantizedMatrix): DeviceBuffer;
  /** The quantized (or float16) matrix a buffer holds, or null (float32 or bfloat16). */
  quantizedOf?(buffer: DeviceBuffer): QuantizedMatrix | null;
}

/** C = alpha * op(A) * op(B) + beta * C, row-major, `batch` times with the given strides. */
export interface GemmArgs<F extends DeviceBuffer = DeviceBuffer> {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  A: F;
  lda: number;
  /**
   * float32 values, or bfloat16 bits of a frozen weight (widened to float32 as it is read), or a
   * quantized or float16 frozen weight [rows, cols] (widened as it is read; then op(B) is the whole
   * matrix, batch is 1 and offsetB 0).
   */
  B: F | Uint16Array | QuantizedMatrix;
  ldb: number;
  beta: number;
  C: F;
  ldc: number;
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
  /** Elements of A and B before the first problem's operand (default 0). */
  offsetA?: number;
  offsetB?: number;
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
  /** Sliding window (with causal only): query at position p sees keys p - window < j <= p; 0 = no window. */
  window: number;
  /** Soft-capped scores (Gemma 2): s = softcap * tanh(scale * q.k / softcap); 0 = not capped. */
  softcap: number;
  /** Packed sequences: the key mask holds segment ids (0 = padding) and a query sees only keys of its own segment. */
  segmented: boolean;
  /**
   * Rows each key/value head holds in k and v as stored: S when they are exactly [B, Hkv, S, D];
   * more for a KV cache allocated ahead, whose first S rows per head are the keys (forward only:
   * the backward takes kvRows = S).
   */
  kvRows: number;
  /**
   * Dropout on the probabilities before they weigh v (BERT's attention_probs_dropout_prob), its mask
   * drawn inside the kernels: probability (b, h, t, j) is dropped where the draw of the hash that
   * src/backend/ref/dropout.ts defines, at the flat index ((b H + h) T + t) S + j of the [B, H, T, S]
   * probabilities, falls below dropBelow, and the others are scaled by keepScale (as float32): the mask
   * dropoutMultiply would apply to those probabilities with the same key. The backward draws it
   * again. Omitted: nothing dropped.
   */
  dropout?: AttentionDropout;
}

/** The key, threshold and scale of attention's dropout (dropoutMultiply's arguments). */
export interface AttentionDropout {
  key0: number;
  key1: number;
  dropBelow: number;
  keepScale: number;
}

export enum ActivationKind {
  GeluErf = 0,
  GeluTanh = 1,
  Silu = 2,
  /** max(x, 0), NaN passing through; gradient 0 at 0 (as PyTorch). */
  Relu = 3,
  Tanh = 4,
}

export enum BinaryOp {
  Add = 0,
  Sub = 1,
  Mul = 2,
  Div = 3,
}

/** The hyperparameters of one AdamW update (bias corrections folded in by the optimizer). */
export interface AdamWStep {
  beta1: number;
  beta2: number;
  eps: number;
  /** w is multiplied by this before the update: 1 - lr * weightDecay. */
  decay: number;
  /** lr / (1 - beta1^t) */
  stepSize: number;
  /** sqrt(1 - beta2^t) */
  sqrtBc2: number;
}

/**
 * F is the buffer type the kernels see: DeviceBuffer for the code that uses a backend, Float32Array
 * for the CPU backends that implement it.
 */
export interface Backend<F extends DeviceBuffer = DeviceBuffer> {
  readonly name: string;
  readonly memory: BackendMemory;
  gemm(args: GemmArgs<F>): void;

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
  /**
   * dlogits = (softmax(logits) - onehot(target)) * rowScale[row]; ignored rows get zeros. dlogits
   * may be logits itself, overwritten in place (each value is read before it is written).
   */
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
  /**
   * Inverted dropout of n contiguous values: out[i] = x[i] * (draw(i) < dropBelow ? 0 : keepScale), the
   * draw the counter-based hash of (key0, key1, i) that src/backend/ref/dropout.ts defines, keepScale
   * rounded to float32. The mask is never stored: the backward calls it again with the same key on
   * the gradient.
   */
  dropoutMultiply(x: F, out: F, n: number, key0: number, key1: number, dropBelow: number, keepScale: number): void;
  /** dst (contiguous, `shape`) = src read through srcStrides: permutes, transposes, broadcasts. */
  copyStrided(shape: readonly number[], src: F, srcStrides: readonly number[], dst: F): void;
  /**
   * RoPE in the rotate-half form on `rows` vectors of D values; row r sits at position r % T and
   * cos/sin are [T, D / 2]. direction -1 rotates back (the backward). src may be dst.
   */
  ropeRotate(src: F, dst: F, cos: F, sin: F, rows: number, T: number, D: number, direction: 1 | -1): void;

  /** buffer[0..n) = value */
  fill(buffer: F, value: number, n: number): void;
  /**
   * `blocks` runs of `blockLength` contiguous values: run i goes from src[srcOffset + i * srcStride]
   * to dst[dstOffset + i * dstStride] (slices, concatenations, clones).
   */
  copyBlocks(src: F, srcOffset: number, srcStride: number, dst: F, dstOffset: number, dstStride: number, blocks: number, blockLength: number): void;
  /** out[i, :] = table[ids[i], :] for a [*, dim] table (float32 or bfloat16 bits); ids are checked by the caller. */
  gatherRows(table: F | Uint16Array | QuantizedMatrix, ids: Int32Array, out: F, dim: number): void;
  /** dtable[ids[i], :] += g[i, :] (the embedding's backward). */
  scatterAddRows(g: F, ids: Int32Array, dtable: F, dim: number): void;
  /**
   * out = scale * (sum of src, of `shape`, into the contiguous `out` read through outStrides, 0
   * along a summed dimension), accumulated in float64.
   */
  reduceSum(shape: readonly number[], src: F, outStrides: readonly number[], out: F, scale: number): void;
  /** The sum of squares of buffer[0..n), in float64: NaN or Infinity exactly when a value is not finite. */
  sumOfSquares(buffer: F, n: number): number;
  /**
   * result[index] = the sum of squares of buffer[0..n), left in the backend's memory: what a device
   * backend, whose memory the host reads only asynchronously, offers instead of sumOfSquares
   * (float32; NaN when a value is not finite). Absent on the CPU backends.
   */
  sumOfSquaresInto?(buffer: F, n: number, result: F, index: number): void;
  /**
   * Quantizes rows x cols float32 values (or bfloat16 bits) into q's codes and scales as
   * src/formats/quantized.ts does, faster; false when a value or a scale cannot be held (the
   * reference then says which). Absent: the reference quantizes.
   */
  quantize?(values: F | Uint16Array, q: QuantizedMatrix): boolean;
  /**
   * Every product of gemm and attention on bf16 dot products from now until turned off (float32
   * operands rounded to bfloat16 to nearest even, bfloat16 weights read as stored, float32
   * accumulation), as PyTorch's autocast multiplies: a capability of the backend. Returns whether
   * the CPU's own bf16 instructions run them (ref emulates them value for value and answers false).
   * Absent where a backend computes in float32 only (WebGPU).
   */
  setBf16Compute?(on: boolean): boolean;
  /**
   * Products over quantized weights (int4 in Q4_0 blocks, int8 per row or in Q8_0 blocks; rows of
   * whole blocks of 32; W read as x W^T, as inference reads it) with the activations rounded to Q8_0
   * blocks and integer dot products, as llama.cpp computes them, from now until turned off: faster,
   * and an approximation of the float product (native/gemm/quantized.h). Under bf16 compute they stay bf16 products.
   * Returns whether it is on; absent where a backend has no quantized weights (WebGPU).
   */
  setInt8Activations?(on: boolean): boolean;
  /** buffer[0..n) *= s, the product taken in float64 and rounded once. */
  scaleInPlace(buffer: F, s: number, n: number): void;
  /** One AdamW update of w from its gradient, with the moments m and v updated in place. */
  adamwUpdate(w: F, grad: F, m: F, v: F, n: number, step: AdamWStep): void;
}

// GEMM throughput: the native kernels (each instruction set this CPU has) against the ref
// backend, on a square problem and on the Transformer shapes a training step runs.
import { refBackend } from '../backend/ref/index.js';
import { nativeAddon } from '../backend/index.js';
import { float32ToBf16 } from '../formats/dtype.js';
import { Random } from '../tensor/random.js';
import { timeIt } from './timing.js';
import { GiftjsError } from '../errors.js';

export interface GemmShape {
  label: string;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

export interface GemmResult extends GemmShape {
  gflops: number;
}

/** The GEMMs of a Linear layer dIn -> dOut over `tokens` rows (by default SmolLM2-135M's MLP up projection over 1024). */
export function transformerShapes(tokens = 1024, dIn = 576, dOut = 1536): GemmShape[] {
  return [
    { label: `forward  Y = X W^T   ${tokens}x${dIn} by ${dIn}x${dOut}`, M: tokens, N: dOut, K: dIn, transA: false, transB: true },
    { label: `forward  Y = X W     ${tokens}x${dIn} by ${dIn}x${dOut}`, M: tokens, N: dOut, K: dIn, transA: false, transB: false },
    { label: `backward dX = dY W   ${tokens}x${dOut} by ${dOut}x${dIn}`, M: tokens, N: dIn, K: dOut, transA: false, transB: false },
    { label: `backward dW = dY^T X ${dOut}x${tokens} by ${tokens}x${dIn}`, M: dOut, N: dIn, K: tokens, transA: true, transB: false },
  ];
}

/**
 * The forward GEMM of a causal LM's head over `tokens` positions: hidden -> vocab against the
 * (tied) embedding, the widest product of a step (Llama-3.2-1B: 128256 columns).
 */
export function lmHeadShape(tokens: number, hidden: number, vocab: number): GemmShape {
  return { label: `forward  logits = X E^T ${tokens}x${hidden} by ${hidden}x${vocab}`, M: tokens, N: vocab, K: hidden, transA: false, transB: true };
}

/** A causal-LM shape's GEMMs at `tokens` rows: its MLP up projection's four (transformerShapes) and its LM head. */
export function modelShapes(tokens: number, config: Record<string, unknown>): GemmShape[] {
  const dim = (key: string) => {
    const v = config[key];
    if (typeof v !== 'number') throw new GiftjsError(`the shape's config has no numeric ${key}`);
    return v;
  };
  return [...transformerShapes(tokens, dim('hidden_size'), dim('intermediate_size')), lmHeadShape(tokens, dim('hidden_size'), dim('vocab_size'))];
}

/**
 * The bytes benchNativeGemm holds for a shape: float32 A, B and C, and B's bf16 copy (the bf16 weight
 * products); twice that, since one shape's arrays may still await the collector while the next
 * shape's are made.
 */
export function gemmBenchBytes(s: GemmShape): number {
  return 2 * ((s.M * s.K + s.K * s.N + s.M * s.N) * 4 + s.K * s.N * 2);
}

/**
 * The most rows (tokens) of a shape's GEMMs (modelShapes) whose gemmBenchBytes stay within `bytes`: 0
 * where none do. Each product's bytes are affine in the rows, so its own count at 0 and 1 rows gives
 * the fixed part and the part per row.
 */
export function mostTokensWithin(config: Record<string, unknown>, bytes: number): number {
  const at0 = modelShapes(0, config).map(gemmBenchBytes);
  const at1 = modelShapes(1, config).map(gemmBenchBytes);
  return Math.min(...at0.map((fixed, i) => Math.max(0, Math.floor((bytes - fixed) / (at1[i]! - fixed)))));
}

function operands(s: GemmShape, seed: number) {
  const r = new Random(seed);
  const fill = (n: number) => Float32Array.from({ length: n }, () => r.normal());
  return { A: fill(s.M * s.K), B: fill(s.K * s.N), C: new Float32Array(s.M * s.N) };
}

function flops(s: GemmShape): number {
  return 2 * s.M * s.N * s.K;
}

/**
 * GFLOP/s of the native GEMM on a shape. With `bf16Weights`, B is stored as bfloat16 (a frozen
 * weight) and multiplied with the CPU's bf16 dot products (bf16 compute, gift train --bf16): null
 * where the CPU has no AVX-512 BF16.
 */
export function benchNativeGemm(s: GemmShape, budgetSeconds: number): GemmResult;
export function benchNativeGemm(s: GemmShape, budgetSeconds: number, bf16Weights: true): GemmResult | null;
export function benchNativeGemm(s: GemmShape, budgetSeconds: number, bf16Weights = false): GemmResult | null {
  const addon = nativeAddon();
  if (!addon) throw new GiftjsError('the native addon is not built; run npm install');
  const { A, B, C } = operands(s, 1);
  const weight = bf16Weights ? float32ToBf16(B) : B;
  if (bf16Weights && !addon.setBf16Compute(true)) return null;
  try {
    const args = { transA: s.transA, transB: s.transB, M: s.M, N: s.N, K: s.K, alpha: 1, A, lda: s.transA ? s.M : s.K, B: weight, ldb: s.transB ? s.K : s.N, beta: 0, C, ldc: s.N, batch: 1, strideA: 0, strideB: 0, strideC: 0 };
    const t = timeIt(() => addon.gemm(args), budgetSeconds);
    return { ...s, gflops: flops(s) / t.seconds / 1e9 };
  } finally {
    if (bf16Weights) addon.setBf16Compute(false);
  }
}

export function benchRefGemm(s: GemmShape, budgetSeconds: number): GemmResult {
  const { A, B, C } = operands(s, 1);
  const args = { transA: s.transA, transB: s.transB, M: s.M, N: s.N, K: s.K, alpha: 1, A, lda: s.transA ? s.M : s.K, B, ldb: s.transB ? s.K : s.N, beta: 0, C, ldc: s.N, batch: 1, strideA: 0, strideB: 0, strideC: 0 };
  const t = timeIt(() => refBackend.gemm(args), budgetSeconds, 1, 5);
  return { ...s, gflops: flops(s) / t.seconds / 1e9 };
}

/** GFLOP/s of every micro-kernel this CPU can run, on one shape. */
export function benchEachKernel(s: GemmShape, budgetSeconds: number): Record<string, number> {
  const addon = nativeAddon();
  if (!addon) return {};
  const out: Record<string, number> = {};
  try {
    for (const k of addon.cpuInfo().gemmKernels) {
      addon.setGemmKernel(k);
      out[k] = benchNativeGemm(s, budgetSeconds).gflops;
    }
  } finally {
    addon.setGemmKernel(null);
  }
  return out;
}

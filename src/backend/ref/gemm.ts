// Reference GEMM: the textbook triple loop, ordered i-k-j so the inner loop runs along rows of
// B and C. Slow and obviously correct.
import { bf16ToFloat32 } from '../../formats/dtype.js';
import { QuantizedMatrix } from '../../formats/quantized.js';
import type { GemmArgs } from '../backend.js';
import { bf16ComputeEnabled, roundedForBf16Product } from '../bf16_compute.js';
import { int8ActivationsEnabled, int8ActivationsFit, int8ActivationsRow } from '../int8_activations.js';

export function refGemm(a: GemmArgs<Float32Array>): void {
  // Products with int8 activations (setInt8Activations), where the native kernels take them.
  if (int8ActivationsEnabled() && !bf16ComputeEnabled() && a.B instanceof QuantizedMatrix && a.transB && !a.transA && int8ActivationsFit(a.B)) {
    const { M, N, K, alpha, beta, C, lda, ldc } = a;
    const rowOut = new Float32Array(N);
    for (let i = 0; i < M; i++) {
      const x = a.A.subarray((a.offsetA ?? 0) + i * lda, (a.offsetA ?? 0) + i * lda + K);
      // A row that cannot be rounded (NaN, infinity, a huge value) takes the float product.
      const row = int8ActivationsRow(x, a.B) ?? (floatProduct({ ...a, M: 1, A: x, offsetA: 0, alpha: 1, beta: 0, C: rowOut, ldc: N }), rowOut);
      for (let j = 0; j < N; j++) C[i * ldc + j] = alpha * row[j]! + (beta === 0 ? 0 : beta * C[i * ldc + j]!);
    }
    return;
  }
  floatProduct(a);
}

function floatProduct(a: GemmArgs<Float32Array>): void {
  const { M, N, K, alpha, beta, C, lda, ldb, ldc, transA, transB } = a;
  // bf16 compute (as autocast): every float32 operand is rounded to bfloat16; a bfloat16 weight is
  // read as stored. Otherwise a bfloat16 weight is widened and nothing is rounded.
  const bf16 = bf16ComputeEnabled();
  // A quantized weight is dequantized (exact float32 values), then read as a float32 operand is.
  const Bf = a.B instanceof QuantizedMatrix ? a.B.dequantize() : a.B;
  const B = Bf instanceof Uint16Array ? bf16ToFloat32(Bf) : bf16 ? roundedForBf16Product(Bf) : Bf;
  const A = bf16 ? roundedForBf16Product(a.A) : a.A;
  const row = new Float64Array(N);
  for (let b = 0; b < a.batch; b++) {
    const offA = (a.offsetA ?? 0) + b * a.strideA;
    const offB = (a.offsetB ?? 0) + b * a.strideB;
    const offC = b * a.strideC;
    for (let i = 0; i < M; i++) {
      row.fill(0);
      for (let k = 0; k < K; k++) {
        const aik = transA ? A[offA + k * lda + i]! : A[offA + i * lda + k]!;
        if (transB) {
          for (let j = 0; j < N; j++) row[j]! += aik * B[offB + j * ldb + k]!;
        } else {
          const base = offB + k * ldb;
          for (let j = 0; j < N; j++) row[j]! += aik * B[base + j]!;
        }
      }
      const base = offC + i * ldc;
      for (let j = 0; j < N; j++) {
        C[base + j] = alpha * row[j]! + (beta === 0 ? 0 : beta * C[base + j]!);
      }
    }
  }
}

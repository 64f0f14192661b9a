// Single-precision GEMM on row-major matrices:  C = alpha * op(A) * op(B) + beta * C
// op(A) is M x K (A stored K x M when transA), op(B) is K x N (B stored N x K when transB).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "microkernels.h"
#include "quantized.h"

namespace giftjs {

struct GemmProblem {
  bool transA = false, transB = false;
  std::size_t M = 0, N = 0, K = 0;
  float alpha = 1.0f;
  const float* A = nullptr;
  std::size_t lda = 0;
  const float* B = nullptr;
  /** Alternatively B stored as bfloat16 bits (frozen weights kept at half size); widened to
      float32 while packing, so the arithmetic and accumulation stay exact float32. */
  const uint16_t* Bbf16 = nullptr;
  /** Or B a quantized frozen weight W [rows, cols] (--quantize): op(B)[k, j] is W[bqRow0 + j,
      bqCol0 + k] when transB, else W[bqRow0 + k, bqCol0 + j]; dequantized to float32 while packing
      (ldb unused). One problem at a time: never batched. */
  const QuantizedMatrix* Bq = nullptr;
  std::size_t bqRow0 = 0, bqCol0 = 0;
  std::size_t ldb = 0;
  float beta = 0.0f;
  float* C = nullptr;
  std::size_t ldc = 0;
};

// C[i, j] = alpha * dot + beta * C[i, j], one output of a product computed a dot product at a time
// (the few-rows and int8-activation paths); beta 0 never reads C, so what was there does not carry.
inline void storeScaled(const GemmProblem& p, std::size_t i, std::size_t j, float dot) {
  float& out = p.C[i * p.ldc + j];
  const float v = p.alpha * dot;
  out = p.beta == 0.0f ? v : v + p.beta * out;
}

// One GEMM on the calling thread with the given kernel (the building block of the others).
void gemmSerial(const GemmProblem& p, const KernelInfo& kernel);

// op(B) packed once for several products that each read a block of it (attention: every query
// block, and every query head of a group, multiplies the same keys and values): op(B)'s depth
// [0, depth) x columns [0, columns) in `kernel`'s sliver layout, sliver s at data + s * sliverStride.
struct PackedB {
  const KernelInfo* kernel = nullptr;
  std::size_t depth = 0, columns = 0, sliverStride = 0;
  const float* data = nullptr;
};
// The floats packBAhead writes for an op(B) of depth x columns (64-byte aligned storage).
std::size_t packedBFloats(const KernelInfo& kernel, std::size_t depth, std::size_t columns);
// Packs op(B) of p (depth p.K, columns p.N; A, C and the rest unused) into dst.
PackedB packBAhead(const GemmProblem& p, const KernelInfo& kernel, float* dst);
// gemmSerial(p, kernel), with op(p.B) read from `packed`, where it sits at depth k0 and column j0:
// the same bits as gemmSerial. Where the packed slivers cannot serve p's slices (j0 inside a
// sliver, a pair of bf16 values split) it packs p's own B, as gemmSerial does.
void gemmSerialPackedB(const GemmProblem& p, const KernelInfo& kernel, const PackedB& packed, std::size_t k0, std::size_t j0);
// One GEMM, split over the thread pool.
void gemm(const GemmProblem& p, const KernelInfo& kernel);
// `batch` GEMMs whose operands advance by the given strides (in floats), over the thread pool.
void gemmBatched(const GemmProblem& p, std::size_t batch, std::size_t strideA,
                 std::size_t strideB, std::size_t strideC, const KernelInfo& kernel);

// Every GEMM on the CPU's bf16 dot products, as under autocast (off by default): float32 operands
// are rounded to bf16 (round to nearest even), bfloat16 weights read as stored, products
// accumulated in float32. Has no effect where the CPU lacks AVX-512 BF16.
void setBf16Compute(bool on);
bool bf16ComputeAvailable();
// Products x W^T over quantized weights whose format has it (int8ActivationsFit), decoding's few rows
// and a prefill's many, with the activations rounded to Q8_0 and integer dot products, as llama.cpp
// computes them (off by default; quantized.h says what it computes). Under bf16 compute they stay bf16 products.
void setInt8Activations(bool on);
// The kernel of bf16 compute (AMX tiles where offered, else AVX-512 BF16 dot products) when it is on
// and the CPU has one, else null: kernels that call gemmSerial themselves (attention) use it the same way.
const KernelInfo* activeBf16Kernel();
// Forces the kernel of bf16 compute by name ("amxbf16", "avx512bf16", or "amxbf16-reference" for
// tests); false when this CPU cannot run it. null restores the automatic choice (AMX where offered).
bool setBf16Kernel(const char* name);
// The name of the kernel bf16 compute would use, or null where there is none.
const char* bf16KernelName();

// float32 -> bfloat16 bits exactly as vcvtneps2bf16 converts (the vector paths use it, so every
// path must agree): round to nearest even; NaN stays NaN (quietened, sign kept); zero and
// denormal inputs give a zero of the same sign.
inline uint32_t roundToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
  if ((u & 0x7f800000u) == 0) return (u >> 16) & 0x8000u;
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}
// bfloat16 bits -> float32 (exact).
inline float widenBf16(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
// n floats to bf16 bits as roundToBf16 rounds them (16 at a time with AVX-512 BF16 where it exists).
void floatsToBf16(const float* src, std::size_t n, uint16_t* dst);

// Decoding's one row against W: W's rows j and j + half of [j0, j1) read side by side, pair(j,
// j + half), two streams far enough apart for the prefetchers to follow both (the 1B shape's bf16
// layer GEMVs 7-18% faster, int4 5-10%; adjacent rows side by side were 30% slower in the int4
// kernel). Returns the row left over (j1 - 1 when the range is odd), else j1.
template <typename Pair>
std::size_t rowsHalfApart(std::size_t j0, std::size_t j1, Pair pair) {
  const std::size_t half = (j1 - j0) / 2;
  for (std::size_t j = j0; j < j0 + half; ++j) pair(j, j + half);
  return j0 + 2 * half;
}

// The same with four rows a quarter of [j0, j1) apart, quad(j, quarter) for j, j + quarter, j + 2
// quarter and j + 3 quarter (the quantized rows' decoding kernels). Returns the first row left over.
template <typename Quad>
std::size_t rowsQuarterApart(std::size_t j0, std::size_t j1, Quad quad) {
  const std::size_t quarter = (j1 - j0) / 4;
  for (std::size_t j = j0; j < j0 + quarter; ++j) quad(j, quarter);
  return j0 + 4 * quarter;
}

}  // namespace giftjs

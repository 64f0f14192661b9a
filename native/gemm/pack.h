// Packing: copies a block of op(A) or op(B) into the layout the micro-kernel reads (see
// microkernels.h), whatever the transposes and leading dimensions are, zero-padding edge slivers.
//
// Packing is pure data movement, but at Transformer shapes it is not small: A is packed once per
// NC-wide panel of B and B once per thread, and a head-sized attention GEMM (K = 64) packs about
// one element per 128 FLOPs. Scalar packing measured 10-15% of a 1024 x 1536 x 576 GEMM on one
// core, so each layout has an AVX-512 path (16 x 16 transposes in registers, masked loads and
// stores for the edges) beside the portable one; both write the same bytes.
#pragma once
#include <cstddef>

#include "gemm.h"

namespace giftjs {

// Rows [i0, i0+mc) x depth [k0, k0+kc) of op(A) into MR-tall slivers: sliver s holds, for each k,
// the MR values op(A)[i0 + s*MR + r, k] contiguously (zero past row M).
void packA(const GemmProblem& p, std::size_t i0, std::size_t mc, std::size_t k0, std::size_t kc, int MR, float* dst);
// Depth [k0, k0+kc) x columns [j0, j0+nc) of op(B) into NR-wide slivers (zero past N).
void packB(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, int NR, float* dst);

// Pair-packed panels for the bf16 dot-product kernel: slot (pair q, row/column r) holds the bf16
// values of k = 2q (low half) and 2q + 1 (high half; zero past the slice). float32 operands are
// rounded to bf16 here (as roundToBf16 rounds); a bfloat16 B is copied as stored.
void packAPairs(const GemmProblem& p, std::size_t i0, std::size_t mc, std::size_t k0, std::size_t kc, int MR, float* dst);
void packBPairs(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, int NR, float* dst);
// How many NR-wide slivers of this B packBPairs packs best in one call: a bfloat16 B that is not
// transposed (dY W) is read along its rows, several slivers at a time (pack.cpp says why), so a GEMM
// that packs B just before its kernels asks for that many at once; 1 for any other B.
std::size_t pairSliversPackedTogether(const GemmProblem& p, int NR);
// A for the AMX kernel (KernelInfo::rowPackedA): sliver s holds MR rows, row r its ceil(kc / 2) pairs
// contiguously (pair q: k = 2q low half, 2q + 1 high, zero past the slice), rows past mc zero.
void packARowPairs(const GemmProblem& p, std::size_t i0, std::size_t mc, std::size_t k0, std::size_t kc, int MR, float* dst);

}  // namespace giftjs

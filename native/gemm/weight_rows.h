// Y = X W^T over a bf16 weight for up to 256 rows of X, W's rows read as stored (weight_rows.cpp).
#pragma once
#include "gemm.h"

namespace giftjs {

// Whether gemmWeightRows computes p: at most 256 rows, a dense bf16 weight as B transposed (a
// Linear's W^T), A not transposed, an even K (W's pairs are read as 32-bit words), alpha not 0 and
// beta 0 or 1.
bool weightRowsFit(const GemmProblem& p);
// p with bf16 products (the AVX-512 BF16 dot products; the caller has checked the CPU has them).
void gemmWeightRows(const GemmProblem& p);

}  // namespace giftjs

// Many rows of activations (a prompt's prefill) against a quantized weight with int8 activations,
// as llama.cpp computes them: see int8_gemm.cpp.
#pragma once
#include <cstddef>

#include "gemm.h"

namespace giftjs {

// C = alpha * A W^T + beta * C for p.Bq in a format int8ActivationsFit accepts, read as whole rows
// (bqCol0 0, K = cols), A not transposed; each A row rounded to Q8_0 (quantized.h). A row that cannot
// be rounded (a value not finite, or a d past half precision) takes the float product, which carries
// the NaN or infinity on. (vector false: the portable loops, as under setGemmKernel("portable").)
void gemmInt8Activations(const GemmProblem& p, bool vector);

}  // namespace giftjs

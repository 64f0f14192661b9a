// Vectorised exp for the row kernels (softmax, log-sum-exp, cross-entropy, attention).
//
// expShifted(x, shift, y, n) writes y[i] = exp(x[i] - shift) and returns their sum; rowMax returns
// the largest x[i]. On AVX-512 the exponential is Cephes' expf (range reduction by ln 2, a degree-6
// polynomial, the exponent set directly: about 1 ulp), 16 lanes at a time; elsewhere std::exp.
// Arguments below -87.3 (masked scores, -inf) give exactly 0, as std::exp underflows to.
#pragma once
#include <cmath>
#include <cstddef>

namespace giftjs {

float rowMax(const float* x, std::size_t n);
float expShifted(const float* x, float shift, float* y, std::size_t n);
/** y[i] = exp(sign * x[i]) (sign is +1 or -1), vectorised like expShifted; y may be x. */
void expScaled(const float* x, float sign, float* y, std::size_t n);
/** log(sum(exp(x))) without writing the exponentials anywhere. */
float logSumExpRow(const float* x, std::size_t n);

}  // namespace giftjs

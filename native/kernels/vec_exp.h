// Vectorised exp for the row kernels (softmax, log-sum-exp, cross-entropy, attention).
//
// expShifted(x, shift, y, n) writes y[i] = exp(x[i] - shift) and returns their sum; rowMax returns
// the largest x[i]. On AVX-512 the exponential is Cephes' expf (range reduction by ln 2, a degree-6
// polynomial, the exponent set directly: about 1 ulp), 16 lanes at a time; elsewhere std::exp.
// Arguments below -87.3 (masked scores, -inf) give exactly 0, as std::exp underflows to.
#pragma once
#include <cmath>
#include <cstddef>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace giftjs {

#if defined(__x86_64__)
// exp of 16 floats (Cephes' expf, as described above), for the vector kernels built on it.
__attribute__((target("avx512f,fma"))) inline __m512 exp16(__m512 x) {
  const __m512 hi = _mm512_set1_ps(88.3762626647949f);
  const __m512 lo = _mm512_set1_ps(-87.3365447504019f);
  // The clamps below would turn NaN into a finite number and +inf into FLT_MAX-ish: both are
  // restored at the end, so NaN propagates and exp(+inf) = +inf, as std::exp gives.
  const __m512 in = x;
  const __mmask16 underflow = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);  // also true for -inf
  const __mmask16 overflow = _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ);   // also true for +inf
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
  __m512 n = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                                  _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  __m512 y = _mm512_maskz_mul_ps(static_cast<__mmask16>(~underflow), p, _mm512_castsi512_ps(e));
  y = _mm512_mask_mov_ps(y, overflow, _mm512_set1_ps(INFINITY));
  return _mm512_mask_mov_ps(y, nan, in);
}
#endif

float rowMax(const float* x, std::size_t n);
float expShifted(const float* x, float shift, float* y, std::size_t n);
/** y[i] = exp(sign * x[i]) (sign is +1 or -1), vectorised like expShifted; y may be x. */
void expScaled(const float* x, float sign, float* y, std::size_t n);
/** log(sum(exp(x))) without writing the exponentials anywhere. */
float logSumExpRow(const float* x, std::size_t n);

}  // namespace giftjs

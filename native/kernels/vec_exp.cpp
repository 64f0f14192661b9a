#include "vec_exp.h"

#include <cstring>

#include "../runtime/cpu_features.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace giftjs {

namespace {

#if defined(__x86_64__)
// max_ps drops a NaN operand, so NaNs are counted beside it: a row holding one has max NaN.
__attribute__((target("avx512f"))) float rowMax512(const float* x, std::size_t n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  __mmask16 nan = 0;
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    m = _mm512_max_ps(m, v);
  }
  if (i < n) {
    const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), static_cast<__mmask16>((1u << (n - i)) - 1), x + i);
    nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    m = _mm512_max_ps(m, v);
  }
  return nan ? NAN : _mm512_reduce_max_ps(m);
}

__attribute__((target("avx512f,fma"))) float expShifted512(const float* x, float shift, float* y, std::size_t n) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 acc = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
    if (y) _mm512_storeu_ps(y + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_mask_loadu_ps(s, m, x + i), s)));
    if (y) _mm512_mask_storeu_ps(y + i, m, e);
    acc = _mm512_add_ps(acc, e);
  }
  return _mm512_reduce_add_ps(acc);
}

__attribute__((target("avx512f,fma"))) void expScaled512(const float* x, float sign, float* y, std::size_t n) {
  const __m512 s = _mm512_set1_ps(sign);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, exp16(_mm512_mul_ps(_mm512_loadu_ps(x + i), s)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(y + i, m, exp16(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), s)));
  }
}
#endif

}  // namespace

float rowMax(const float* x, std::size_t n) {
#if defined(__x86_64__)
  if (cpuHasAvx512()) return rowMax512(x, n);
#endif
  float m = -INFINITY;
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i] != x[i]) return NAN;  // NaN propagates
    m = x[i] > m ? x[i] : m;
  }
  return m;
}

float expShifted(const float* x, float shift, float* y, std::size_t n) {
#if defined(__x86_64__)
  if (cpuHasAvx512()) return expShifted512(x, shift, y, n);
#endif
  float s = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    const float e = std::exp(x[i] - shift);
    if (y) y[i] = e;
    s += e;
  }
  return s;
}

void expScaled(const float* x, float sign, float* y, std::size_t n) {
#if defined(__x86_64__)
  if (cpuHasAvx512()) return expScaled512(x, sign, y, n);
#endif
  for (std::size_t i = 0; i < n; ++i) y[i] = std::exp(sign * x[i]);
}

float logSumExpRow(const float* x, std::size_t n) {
  const float mx = rowMax(x, n);
  if (mx == -INFINITY) return -INFINITY;
  return mx + std::log(expShifted(x, mx, nullptr, n));
}

}  // namespace giftjs

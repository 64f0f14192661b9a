// AdamW's update of one parameter tensor, as the reference backend computes it
// (src/backend/ref/memory_ops.ts refAdamwUpdate): every step in double, m and v stored rounded to
// float32 but used unrounded within the step, w rounded once at the end. The same operations in the
// same order give the same bits, so a run resumed on either backend carries on identically. In
// TypeScript the loop took 16 ms a step for LoRA r64's 3.7 million SmolLM2 parameters (1.6% of the
// bf16 step); this file is compiled without contraction into fused multiply-adds (see below), which
// would round differently.
#include <cmath>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "../runtime/cpu_features.h"
#include "../runtime/parallel.h"
#include "kernels.h"

// The build contracts a * b + c into one fused operation (binding.gyp: -ffp-contract=fast), which
// skips a rounding the reference makes; this file keeps each product and sum separate.
#pragma GCC optimize("fp-contract=off")

namespace giftjs {

namespace {

// Elements [i0, i1) one at a time, as refAdamwUpdate writes them.
void adamwScalar(float* w, const float* g, float* m, float* v, std::size_t i0, std::size_t i1, const AdamWStep& s) {
  const double c1 = 1.0 - s.beta1, c2 = 1.0 - s.beta2;
  for (std::size_t i = i0; i < i1; ++i) {
    const double gi = g[i];
    const double mi = s.beta1 * m[i] + c1 * gi;
    const double vi = s.beta2 * v[i] + c2 * gi * gi;
    m[i] = static_cast<float>(mi);
    v[i] = static_cast<float>(vi);
    w[i] = static_cast<float>(w[i] * s.decay - (s.stepSize * mi) / (std::sqrt(vi) / s.sqrtBc2 + s.eps));
  }
}

#if defined(__x86_64__)
// The same, eight elements at a time in double lanes; the tail (under 8) goes to adamwScalar.
__attribute__((target("avx512f"))) void adamw512(float* w, const float* g, float* m, float* v, std::size_t i0,
                                                 std::size_t i1, const AdamWStep& s) {
  const __m512d b1 = _mm512_set1_pd(s.beta1), b2 = _mm512_set1_pd(s.beta2);
  const __m512d c1 = _mm512_set1_pd(1.0 - s.beta1), c2 = _mm512_set1_pd(1.0 - s.beta2);
  const __m512d decay = _mm512_set1_pd(s.decay), stepSize = _mm512_set1_pd(s.stepSize);
  const __m512d sqrtBc2 = _mm512_set1_pd(s.sqrtBc2), eps = _mm512_set1_pd(s.eps);
  std::size_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    const __m512d gi = _mm512_cvtps_pd(_mm256_loadu_ps(g + i));
    const __m512d mi = _mm512_add_pd(_mm512_mul_pd(b1, _mm512_cvtps_pd(_mm256_loadu_ps(m + i))), _mm512_mul_pd(c1, gi));
    const __m512d vi = _mm512_add_pd(_mm512_mul_pd(b2, _mm512_cvtps_pd(_mm256_loadu_ps(v + i))),
                                     _mm512_mul_pd(_mm512_mul_pd(c2, gi), gi));
    _mm256_storeu_ps(m + i, _mm512_cvtpd_ps(mi));
    _mm256_storeu_ps(v + i, _mm512_cvtpd_ps(vi));
    const __m512d denom = _mm512_add_pd(_mm512_div_pd(_mm512_sqrt_pd(vi), sqrtBc2), eps);
    const __m512d wi = _mm512_sub_pd(_mm512_mul_pd(_mm512_cvtps_pd(_mm256_loadu_ps(w + i)), decay),
                                     _mm512_div_pd(_mm512_mul_pd(stepSize, mi), denom));
    _mm256_storeu_ps(w + i, _mm512_cvtpd_ps(wi));
  }
  adamwScalar(w, g, m, v, i, i1, s);
}
#endif

}  // namespace

void adamwUpdate(float* w, const float* g, float* m, float* v, std::size_t n, const AdamWStep& s) {
  // Chunks of at least 16k elements: a small tensor (a bias, a norm's gain) stays on the caller's thread.
  parallelChunks(n, 16384, [&](std::size_t i0, std::size_t i1) {
#if defined(__x86_64__)
    if (cpuHasAvx512()) return adamw512(w, g, m, v, i0, i1, s);
#endif
    adamwScalar(w, g, m, v, i0, i1, s);
  });
}

}  // namespace giftjs

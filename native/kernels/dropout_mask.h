// Dropout's mask drawn where it is applied: value i is dropped where a counter-based hash of
// (key0, key1, i) falls below dropBelow -- two rounds of lowbias32, as src/backend/ref/dropout.ts
// defines it -- so a mask is neither drawn on the host nor stored, and a backward draws it again from
// the same key. dropoutSpan applies it to one contiguous run of values whose flat indices start at
// firstIndex: dropoutMultiply (dropout.cpp) threads it over a tensor, attention (attention.cpp) runs
// it on its rows of probabilities. On AVX-512, 16 hashes at a time (32-bit multiplies, shifts, an
// unsigned compare into the mask of a multiply); elsewhere, and for the tails, the scalar hash.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../runtime/cpu_features.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace giftjs {

inline std::uint32_t dropoutMix32(std::uint32_t h) {
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}

inline std::uint32_t dropoutDraw(std::uint32_t key0, std::uint32_t key1, std::uint32_t i) {
  return dropoutMix32(dropoutMix32(i + key0) ^ key1);
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) inline __m512i dropoutMix16(__m512i h) {
  h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
  h = _mm512_mullo_epi32(h, _mm512_set1_epi32(static_cast<int>(0x7feb352du)));
  h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 15));
  h = _mm512_mullo_epi32(h, _mm512_set1_epi32(static_cast<int>(0x846ca68bu)));
  return _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
}

// The whole vectors of x[0, n); returns where the scalar loop takes over.
__attribute__((target("avx512f"))) inline std::size_t dropoutSpan512(const float* x, float* out, std::size_t n,
                                                                     std::uint32_t firstIndex, std::uint32_t key0,
                                                                     std::uint32_t key1, std::uint32_t dropBelow, float keep) {
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i k0 = _mm512_set1_epi32(static_cast<int>(key0)), k1 = _mm512_set1_epi32(static_cast<int>(key1));
  const __m512i below = _mm512_set1_epi32(static_cast<int>(dropBelow));
  const __m512 keepScale = _mm512_set1_ps(keep), zero = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i index = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(firstIndex + static_cast<std::uint32_t>(i))), lanes);
    const __m512i h = dropoutMix16(_mm512_xor_si512(dropoutMix16(_mm512_add_epi32(index, k0)), k1));
    // The factor is keep where the draw is at or above the threshold, else 0 (x * 0 keeps NaN a NaN).
    const __m512 factor = _mm512_mask_mov_ps(zero, _mm512_cmpge_epu32_mask(h, below), keepScale);
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), factor));
  }
  return i;
}
#endif

// out[i] = x[i] * (dropoutDraw(key0, key1, firstIndex + i) < dropBelow ? 0 : keep) for i in [0, n),
// the index wrapping at 2^32 as the reference's does; out may be x.
inline void dropoutSpan(const float* x, float* out, std::size_t n, std::uint32_t firstIndex, std::uint32_t key0,
                        std::uint32_t key1, std::uint32_t dropBelow, float keep) {
  std::size_t i = 0;
#if defined(__x86_64__)
  if (cpuHasAvx512()) i = dropoutSpan512(x, out, n, firstIndex, key0, key1, dropBelow, keep);
#endif
  for (; i < n; ++i)
    out[i] = x[i] * (dropoutDraw(key0, key1, firstIndex + static_cast<std::uint32_t>(i)) < dropBelow ? 0.0f : keep);
}

}  // namespace giftjs

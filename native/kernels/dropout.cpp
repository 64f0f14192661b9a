// Inverted dropout with its mask drawn where it is applied: value i is dropped where a counter-based
// hash of (key0, key1, i) falls below dropBelow -- two rounds of lowbias32, as src/backend/ref/dropout.ts
// defines it -- so the mask is neither drawn on the host nor stored; the backward calls this again with
// the same key on the gradient. On AVX-512, 16 hashes at a time (32-bit multiplies, shifts, an
// unsigned compare into the mask of a multiply); elsewhere, and for the tails, the scalar hash.
#include <cstdint>

#include "../runtime/cpu_features.h"
#include "../runtime/parallel.h"
#include "kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace giftjs {

namespace {

inline std::uint32_t mix32(std::uint32_t h) {
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  return h;
}

inline std::uint32_t draw(std::uint32_t key0, std::uint32_t key1, std::uint32_t i) {
  return mix32(mix32(i + key0) ^ key1);
}

#if defined(__x86_64__)
#define GIFTJS_DROPOUT_TARGET __attribute__((target("avx512f")))

GIFTJS_DROPOUT_TARGET inline __m512i mix16(__m512i h) {
  h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
  h = _mm512_mullo_epi32(h, _mm512_set1_epi32(static_cast<int>(0x7feb352du)));
  h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 15));
  h = _mm512_mullo_epi32(h, _mm512_set1_epi32(static_cast<int>(0x846ca68bu)));
  return _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
}

// Whole vectors of [i0, i1); returns where the scalar loop takes over.
GIFTJS_DROPOUT_TARGET std::size_t dropout512(const float* x, float* out, std::size_t i0, std::size_t i1, std::uint32_t key0,
                                             std::uint32_t key1, std::uint32_t dropBelow, float keep) {
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i k0 = _mm512_set1_epi32(static_cast<int>(key0)), k1 = _mm512_set1_epi32(static_cast<int>(key1));
  const __m512i below = _mm512_set1_epi32(static_cast<int>(dropBelow));
  const __m512 keepScale = _mm512_set1_ps(keep), zero = _mm512_setzero_ps();
  std::size_t i = i0;
  for (; i + 16 <= i1; i += 16) {
    const __m512i index = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(i))), lanes);
    const __m512i h = mix16(_mm512_xor_si512(mix16(_mm512_add_epi32(index, k0)), k1));
    // The factor is keep where the draw is at or above the threshold, else 0 (x * 0 keeps NaN a NaN).
    const __m512 factor = _mm512_mask_mov_ps(zero, _mm512_cmpge_epu32_mask(h, below), keepScale);
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), factor));
  }
  return i;
}
#endif

}  // namespace

void dropoutMultiply(const float* x, float* out, std::size_t n, std::uint32_t key0, std::uint32_t key1, std::uint32_t dropBelow,
                     float keepScale) {
  parallelChunks(n, 16384, [&](std::size_t i0, std::size_t i1) {
    std::size_t i = i0;
#if defined(__x86_64__)
    if (cpuHasAvx512()) i = dropout512(x, out, i0, i1, key0, key1, dropBelow, keepScale);
#endif
    for (; i < i1; ++i) out[i] = x[i] * (draw(key0, key1, static_cast<std::uint32_t>(i)) < dropBelow ? 0.0f : keepScale);
  });
}

}  // namespace giftjs

// Packing for the GEMM driver (gemm.cpp): the portable loops, and beside each the AVX-512 path
// that writes the same bytes 16 values at a time. See pack.h for the layouts.
#include "pack.h"
#include "transpose16.h"

#include "../runtime/cpu_features.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#if defined(__x86_64__)
#define GIFTJS_PACK_X86 1
#include <immintrin.h>
#endif

namespace giftjs {

namespace {

// ---------------------------------------------------------------------------------------------
// Portable packing. A's rows and B's columns are packed by the same rule: vector v (a row of op(A)
// or a column of op(B)) of [from, from + count) goes to lane v % width of sliver v / width, its
// value k at slot k (float32) or pair slot k / 2 (bf16 pairs); lanes past count are zero.

template <typename At>
void packSliversPortable(At at, std::size_t from, std::size_t count, std::size_t k0, std::size_t kc, int width,
                         float* dst) {
  for (std::size_t s = 0; s < count; s += width) {
    const std::size_t vectors = std::min<std::size_t>(width, count - s);
    for (std::size_t k = 0; k < kc; ++k) {
      float* d = dst + k * width;
      std::size_t v = 0;
      for (; v < vectors; ++v) d[v] = at(k0 + k, from + s + v);
      for (; v < static_cast<std::size_t>(width); ++v) d[v] = 0.0f;
    }
    dst += kc * width;
  }
}

// bitsAt(k, v): the bf16 bits of vector v's value k.
template <typename BitsAt>
void packPairSliversPortable(BitsAt bitsAt, std::size_t from, std::size_t count, std::size_t k0, std::size_t kc,
                             int width, uint32_t* dst) {
  const std::size_t pairs = (kc + 1) / 2;
  for (std::size_t s = 0; s < count; s += width) {
    const std::size_t vectors = std::min<std::size_t>(width, count - s);
    for (std::size_t q = 0; q < pairs; ++q) {
      uint32_t* d = dst + q * width;
      const std::size_t k = k0 + 2 * q;
      const bool second = 2 * q + 1 < kc;
      std::size_t v = 0;
      for (; v < vectors; ++v) d[v] = bitsAt(k, from + s + v) | (second ? bitsAt(k + 1, from + s + v) << 16 : 0u);
      for (; v < static_cast<std::size_t>(width); ++v) d[v] = 0;
    }
    dst += pairs * width;
  }
}

// op(A)[i, k] and op(B)[k, j] as stored.
inline float valueA(const GemmProblem& p, std::size_t k, std::size_t i) {
  return p.transA ? p.A[k * p.lda + i] : p.A[i * p.lda + k];
}
inline std::size_t indexB(const GemmProblem& p, std::size_t k, std::size_t j) {
  return p.transB ? j * p.ldb + k : k * p.ldb + j;
}

void packAPortable(const GemmProblem& p, std::size_t i0, std::size_t mc, std::size_t k0, std::size_t kc, int MR,
                   float* dst) {
  packSliversPortable([&](std::size_t k, std::size_t i) { return valueA(p, k, i); }, i0, mc, k0, kc, MR, dst);
}

void packBPortable(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, int NR,
                   float* dst) {
  auto at = [&](std::size_t k, std::size_t j) {
    const std::size_t i = indexB(p, k, j);
    return p.Bbf16 ? widenBf16(p.Bbf16[i]) : p.B[i];
  };
  packSliversPortable(at, j0, nc, k0, kc, NR, dst);
}

void packAPairsPortable(const GemmProblem& p, std::size_t i0, std::size_t mc, std::size_t k0, std::size_t kc,
                        int MR, uint32_t* dst) {
  packPairSliversPortable([&](std::size_t k, std::size_t i) { return roundToBf16(valueA(p, k, i)); }, i0, mc, k0, kc, MR, dst);
}

void packBPairsPortable(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc,
                        int NR, uint32_t* dst) {
  auto bitsAt = [&](std::size_t k, std::size_t j) -> uint32_t {
    const std::size_t i = indexB(p, k, j);
    return p.Bbf16 ? p.Bbf16[i] : roundToBf16(p.B[i]);
  };
  packPairSliversPortable(bitsAt, j0, nc, k0, kc, NR, dst);
}

// ---------------------------------------------------------------------------------------------
// AVX-512 packing.

#ifdef GIFTJS_PACK_X86
// The float32 paths are compiled for AVX-512F and the pair paths below for AVX-512 BF16 (the
// lambdas too, which a function's target attribute would not reach); they run only after the
// run-time checks in the entry points.
#pragma GCC push_options
#pragma GCC target("avx512f")

inline __mmask16 firstLanes(std::size_t n) { return static_cast<__mmask16>((1u << std::min<std::size_t>(n, 16)) - 1); }

// Loads up to 16 rows of 16 32-bit values (rows past `rows` and values past `n` are zero), transposes
// them and stores column t (t < m) through `store(t, vector)`.
template <typename Load, typename Store>
__attribute__((always_inline)) inline void transposeBlock(std::size_t rows, std::size_t m,
                                                                            Load load, Store store) {
  __m512 r[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = static_cast<std::size_t>(i) < rows ? load(i) : _mm512_setzero_ps();
  transpose16(r);
#pragma GCC unroll 16
  for (int t = 0; t < 16; ++t)
    if (static_cast<std::size_t>(t) < m) store(t, r[t]);
}

// MR <= 16. A row-major (not transposed): 16 k of 16 rows are transposed in registers; the stores
// keep MR lanes, so consecutive k land MR floats apart.
void packAAvx512(const GemmProblem& p, std::size_t i0, std::size_t mc, std::size_t k0, std::size_t kc, int MR,
                 float* dst) {
  const __mmask16 keep = firstLanes(MR);
  for (std::size_t s = 0; s < mc; s += MR) {
    const std::size_t rows = std::min<std::size_t>(MR, mc - s);
    if (p.transA) {  // each k's MR values are contiguous in memory
      const __mmask16 valid = firstLanes(rows);
      const float* src = p.A + k0 * p.lda + i0 + s;
      for (std::size_t k = 0; k < kc; ++k) _mm512_mask_storeu_ps(dst + k * MR, keep, _mm512_maskz_loadu_ps(valid, src + k * p.lda));
    } else {
      const float* src = p.A + (i0 + s) * p.lda + k0;
      for (std::size_t k = 0; k < kc; k += 16) {
        const __mmask16 valid = firstLanes(kc - k);
        transposeBlock(
            rows, std::min<std::size_t>(16, kc - k), [&](int i) { return _mm512_maskz_loadu_ps(valid, src + i * p.lda + k); },
            [&](int t, __m512 v) { _mm512_mask_storeu_ps(dst + (k + t) * MR, keep, v); });
      }
    }
    dst += kc * MR;
  }
}

// NR a multiple of 16, float32 B (or float16 halves widened as they are loaded). B transposed
// ([N, K], a Linear weight): 16 columns x 16 k are transposed in registers; not transposed: rows
// are copied 16 columns at a time. load(i, mask) gives the 16 values of B from element i on;
// prefetch(i) asks for element i's cache line in L2. Not transposed, each row's load is paired with
// a prefetch of the same row's line for the next sliver (NR columns on): a weight larger than the
// caches is then read one line per row, at a stride the hardware prefetchers do not follow across
// pages, and every load waited on memory (a 1B model's dX = dY W, K 8192: 228 -> 281-298 GFLOP/s in
// float32, 395-408 -> 513-557 with bf16 pairs). Transposed, the rows are read along and the hardware
// prefetchers keep up (prefetching there measured slower). A prefetch past the end of B is
// harmless: prefetches never fault.
template <typename Load, typename Prefetch>
void packBAvx512From(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, int NR,
                     float* dst, Load load, Prefetch prefetch) {
  for (std::size_t s = 0; s < nc; s += NR) {
    const std::size_t cols = std::min<std::size_t>(NR, nc - s);
    for (std::size_t c0 = 0; c0 < static_cast<std::size_t>(NR); c0 += 16) {
      const std::size_t valid = cols > c0 ? std::min<std::size_t>(16, cols - c0) : 0;
      if (p.transB) {
        const std::size_t src = (j0 + s + c0) * p.ldb + k0;
        for (std::size_t k = 0; k < kc; k += 16) {
          const __mmask16 inK = firstLanes(kc - k);
          transposeBlock(
              valid, std::min<std::size_t>(16, kc - k), [&](int i) { return load(src + i * p.ldb + k, inK); },
              [&](int t, __m512 v) { _mm512_storeu_ps(dst + (k + t) * NR + c0, v); });
        }
      } else {
        const __mmask16 inN = firstLanes(valid);
        const std::size_t src = k0 * p.ldb + j0 + s + c0;
        for (std::size_t k = 0; k < kc; ++k) {
          prefetch(src + k * p.ldb + NR);
          _mm512_storeu_ps(dst + k * NR + c0, load(src + k * p.ldb, inN));
        }
      }
    }
    dst += kc * NR;
  }
}

inline void prefetchL2(const void* at) { _mm_prefetch(static_cast<const char*>(at), _MM_HINT_T1); }

void packBAvx512(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, int NR,
                 float* dst) {
  packBAvx512From(
      p, k0, kc, j0, nc, NR, dst, [&](std::size_t i, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p.B + i); },
      [&](std::size_t i) { prefetchL2(p.B + i); });
}

// 16 two-byte values from `at` (the first popcount(m) of them; m's lanes are the first ones),
// the rest zero. A partial row goes through a zeroed copy (masked 16-bit loads would need AVX-512 BW).
__attribute__((always_inline)) inline __m256i load16Halves(const uint8_t* at, __mmask16 m) {
  if (m == 0xffff) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at));
  alignas(32) uint16_t part[16] = {};
  std::memcpy(part, at, 2 * static_cast<std::size_t>(__builtin_popcount(m)));
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(part));
}

// A float16 B (a checkpoint's F16 weight kept as stored): op(B) from W[bqRow0, bqCol0] on, ldb =
// W's columns; vcvtph2ps widens exactly. The halves need not be 2-aligned (byte addresses).
void packBHalvesAvx512(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, int NR,
                       float* dst) {
  const QuantizedMatrix& w = *p.Bq;
  const uint8_t* origin = w.codes + 2 * (p.bqRow0 * w.cols + p.bqCol0);
  GemmProblem q = p;
  q.ldb = w.cols;
  packBAvx512From(
      q, k0, kc, j0, nc, NR, dst, [&](std::size_t i, __mmask16 m) { return _mm512_cvtph_ps(load16Halves(origin + 2 * i, m)); },
      [&](std::size_t i) { prefetchL2(origin + 2 * i); });
}

// A bfloat16 B (a BF16 weight kept as stored, float32 products): each value's bits shifted into a
// float32's upper half, exactly as widenBf16.
void packBBf16Avx512(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, int NR,
                     float* dst) {
  const auto* origin = reinterpret_cast<const uint8_t*>(p.Bbf16);
  packBAvx512From(
      p, k0, kc, j0, nc, NR, dst,
      [&](std::size_t i, __mmask16 m) {
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(load16Halves(origin + 2 * i, m)), 16));
      },
      [&](std::size_t i) { prefetchL2(origin + 2 * i); });
}

#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16,f16c")

// 16 floats to their bf16 bits (round to nearest even; NaN stays NaN, denormals flush to zero, as
// roundToBf16), one per 32-bit lane.
__attribute__((always_inline)) inline __m512i bf16Lanes(__m512 v) {
  const __m256bh h = _mm512_cvtneps_pbh(v);
  return _mm512_cvtepu16_epi32(reinterpret_cast<const __m256i&>(h));
}

// Rounds up to 16 float32 vectors (`rows`; the rest of the 16 lanes are zero) to bf16 pairs:
// slot (pair q, lane r) of dst, `width` slots per pair, gets the pair (k0 + 2q, k0 + 2q + 1) of
// vector r, lanes `keep` stored. Vector r's value k sits at src[r * ld + k] when kContiguous (A not
// transposed, B transposed), else at src[k * ld + r].
// kContiguous: 32 floats of a vector round to 16 pairs at once (vcvtne2ps2bf16 keeps k order, so
// each 32-bit word is the pair (k, k + 1)); 16 vectors x 16 pairs are then transposed as words.
// Otherwise rows k and k + 1 are each contiguous over the vectors.
void roundPairs16(const float* src, std::size_t ld, bool kContiguous, std::size_t rows, std::size_t kc,
                  std::size_t width, __mmask16 keep, uint32_t* dst) {
  const std::size_t pairs = (kc + 1) / 2;
  if (!kContiguous) {
    const __mmask16 valid = firstLanes(rows);
    for (std::size_t q = 0; q < pairs; ++q) {
      const __m512i lo = bf16Lanes(_mm512_maskz_loadu_ps(valid, src + 2 * q * ld));
      const __m512i hi = 2 * q + 1 < kc ? bf16Lanes(_mm512_maskz_loadu_ps(valid, src + (2 * q + 1) * ld)) : _mm512_setzero_si512();
      _mm512_mask_storeu_epi32(dst + q * width, keep, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
    return;
  }
  for (std::size_t q = 0; q < pairs; q += 16) {
    const std::size_t left = kc - 2 * q;  // floats of this slice from k = 2q on (>= 1)
    const __mmask16 lowHalf = firstLanes(left), highHalf = left > 16 ? firstLanes(left - 16) : 0;
    transposeBlock(
        rows, std::min<std::size_t>(16, pairs - q),
        [&](int i) {
          const float* row = src + i * ld + 2 * q;
          const __m512bh words = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(highHalf, row + 16), _mm512_maskz_loadu_ps(lowHalf, row));
          return _mm512_castsi512_ps(reinterpret_cast<const __m512i&>(words));
        },
        [&](int t, __m512 v) { _mm512_mask_storeu_ps(reinterpret_cast<float*>(dst + (q + t) * width), keep, v); });
  }
}

// The pair-packed kernel exists only on CPUs with AVX-512 BF16, so these need no check of their own.
void packAPairsAvx512(const GemmProblem& p, std::size_t i0, std::size_t mc, std::size_t k0, std::size_t kc, int MR,
                      uint32_t* dst) {
  const std::size_t pairs = (kc + 1) / 2;
  for (std::size_t s = 0; s < mc; s += MR) {
    const std::size_t rows = std::min<std::size_t>(MR, mc - s);
    const float* src = p.transA ? p.A + k0 * p.lda + i0 + s : p.A + (i0 + s) * p.lda + k0;
    roundPairs16(src, p.lda, !p.transA, rows, kc, MR, firstLanes(MR), dst);
    dst += pairs * MR;
  }
}

// B float32 (bf16 compute on every product, as autocast does): rounded as A is, 16 columns at a time.
void packBPairsFromFloatAvx512(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc,
                               int NR, uint32_t* dst) {
  const std::size_t pairs = (kc + 1) / 2;
  for (std::size_t s = 0; s < nc; s += NR) {
    const std::size_t cols = std::min<std::size_t>(NR, nc - s);
    for (std::size_t c0 = 0; c0 < static_cast<std::size_t>(NR); c0 += 16) {
      const std::size_t valid = cols > c0 ? std::min<std::size_t>(16, cols - c0) : 0;
      const std::size_t j = j0 + s + c0;
      const float* src = p.transB ? p.B + j * p.ldb + k0 : p.B + k0 * p.ldb + j;
      roundPairs16(src, p.ldb, p.transB, valid, kc, NR, firstLanes(16), dst + c0);
    }
    dst += pairs * NR;
  }
}

// B bf16, not transposed ([K, N], the input gradient dX = dY W): rows k and k + 1 interleaved 32
// columns at a time, one 64-byte line of each row per step, vpermt2w picking the pairs (half the
// instructions of widening 16 columns at a time).
// The weight's rows are 4 or 16 KB apart, so the lines of one column range fall in a handful of cache
// sets. Packed a sliver at a time, down all of a slice's 640 rows, each sliver's lines were asked for
// two slivers ahead into L2, where 640 lines of one set range evict one another; perf put 80% of the
// pack's samples on its row loads, and the pack at 21% of a 1B model's dX GEMM. So the rows are read
// along instead, a chunk of kRowPairChunkSlivers slivers (1 KB of a row) at a time: each row pair's
// 16 lines once, their lines kRowPairsAhead pairs further down asked for into L1. 128 x 2048 by
// 2048 x 8192 and 128 x 8192 by 8192 x 2048 (the 1B MLP's dX), 2 threads of a Zen 5, means of two
// sets of alternating runs of a scratch harness: 599-612 -> 676-696 and 638-653 -> 709-717 GFLOP/s;
// 128 x 2048 by 2048 x 2048 743-756 -> 768-782. (Chunks of 8 and 24 slivers, or 4 and 12 pairs ahead,
// measured between the two; asking for the next chunk's rows into L2 while the kernels ran, no better.)
constexpr std::size_t kRowPairsAhead = 8;
constexpr std::size_t kRowPairChunkSlivers = 16;

void packBPairsRowsAvx512(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, int NR,
                          uint32_t* dst) {
  alignas(64) static const uint16_t interleave[2][32] = {
      {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39, 8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47},
      {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55, 24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63}};
  const __m512i firstHalf = _mm512_load_si512(interleave[0]), secondHalf = _mm512_load_si512(interleave[1]);
  const std::size_t pairs = (kc + 1) / 2, chunk = kRowPairChunkSlivers * NR;
  for (std::size_t c = 0; c < nc; c += chunk) {
    const std::size_t width = std::min(chunk, nc - c);  // columns of this chunk
    uint32_t* const chunkDst = dst + (c / NR) * pairs * NR;
    for (std::size_t q = 0; q < pairs; ++q) {
      const uint16_t* row0 = p.Bbf16 + (k0 + 2 * q) * p.ldb + j0 + c;
      const bool hasSecond = 2 * q + 1 < kc;
      if (2 * (q + kRowPairsAhead) + 1 < kc) {
        const uint16_t* ahead = row0 + 2 * kRowPairsAhead * p.ldb;
        for (std::size_t col = 0; col < width; col += 32) {
          _mm_prefetch(reinterpret_cast<const char*>(ahead + col), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(ahead + p.ldb + col), _MM_HINT_T0);
        }
      }
      for (std::size_t s = 0; s < width; s += NR) {
        uint32_t* const d = chunkDst + (s / NR) * pairs * NR + q * NR;
        for (std::size_t c0 = 0; c0 < static_cast<std::size_t>(NR); c0 += 32) {
          const std::size_t valid = width - s > c0 ? std::min<std::size_t>(32, width - s - c0) : 0;
          const __mmask32 inN = valid == 32 ? ~0u : (1u << valid) - 1;
          const __m512i lo = _mm512_maskz_loadu_epi16(inN, row0 + s + c0);
          const __m512i hi = hasSecond ? _mm512_maskz_loadu_epi16(inN, row0 + p.ldb + s + c0) : _mm512_setzero_si512();
          _mm512_storeu_si512(d + c0, _mm512_permutex2var_epi16(lo, firstHalf, hi));
          _mm512_storeu_si512(d + c0 + 16, _mm512_permutex2var_epi16(lo, secondHalf, hi));
        }
      }
    }
  }
}

// Where packBPairs takes packBPairsRowsAvx512: a bfloat16 B, not transposed, slivers a multiple of 32 wide.
bool pairRowsReadAlong(const GemmProblem& p, int NR) { return !p.Bq && p.Bbf16 && !p.transB && NR % 32 == 0; }

// B bf16, transposed ([N, K], a Linear weight in the forward): a column's pair (k, k + 1) is one
// 32-bit word in memory, so 16 columns x 16 pairs transpose as words (an odd last k is done by the
// portable rule: its word would include the next slice's value). (Not transposed: packBPairsRowsAvx512.)
void packBPairsTransposedAvx512(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc,
                                int NR, uint32_t* dst) {
  const std::size_t pairs = (kc + 1) / 2, fullPairs = kc / 2;
  for (std::size_t s = 0; s < nc; s += NR) {
    const std::size_t cols = std::min<std::size_t>(NR, nc - s);
    for (std::size_t c0 = 0; c0 < static_cast<std::size_t>(NR); c0 += 16) {
      const std::size_t valid = cols > c0 ? std::min<std::size_t>(16, cols - c0) : 0;
      const uint16_t* src = p.Bbf16 + (j0 + s + c0) * p.ldb + k0;
      for (std::size_t q = 0; q < fullPairs; q += 16) {
        const __mmask16 inK = firstLanes(fullPairs - q);
        transposeBlock(
            valid, std::min<std::size_t>(16, fullPairs - q),
            [&](int i) { return _mm512_castsi512_ps(_mm512_maskz_loadu_epi32(inK, src + i * p.ldb + 2 * q)); },
            [&](int t, __m512 v) { _mm512_storeu_ps(reinterpret_cast<float*>(dst + (q + t) * NR + c0), v); });
      }
      if (pairs > fullPairs) {
        uint32_t* d = dst + fullPairs * NR + c0;
        for (std::size_t c = 0; c < 16; ++c) d[c] = c < valid ? src[c * p.ldb + 2 * fullPairs] : 0u;
      }
    }
    dst += pairs * NR;
  }
}

// A quantized B (Q4_0, or int8 in groups of 32 or per row) straight into bf16 pairs, where its
// groups line up with the slice: dequantizing a sliver into float32 first and packing that
// (packBQuantized) took 40-48% of a 128-row GEMM over a 1B model's int4/int8 weights, 2.3-3.5x
// what packing its bf16 weights takes. The values are dequantizeRow's (dequantize32Avx512), rounded
// to bf16 by the same instruction. Returns false where the layout does not fit
// (then packBQuantized packs it).
bool packBPairsQuantizedAvx512(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, int NR,
                               uint32_t* dst) {
  const QuantizedMatrix& w = *p.Bq;
  const bool groups32 = (w.bits == 4 || w.bits == 8) && w.group == 32 && w.cols % 32 == 0;
  const bool perRow8 = w.bits == 8 && w.group == w.cols && w.cols % 32 == 0;
  if (NR != 32 || !(groups32 || perRow8)) return false;
  const std::size_t pairs = (kc + 1) / 2;
  if (p.transB) {
    // op(B)[k, j] = W[bqRow0 + j, bqCol0 + k]: each row of W gives one column's pairs, 32 k at a time.
    const std::size_t c0 = p.bqCol0 + k0;
    if (c0 % 32 != 0 || kc % 32 != 0) return false;
    for (std::size_t s = 0; s < nc; s += 32) {
      const std::size_t cols = std::min<std::size_t>(32, nc - s);
      for (std::size_t h = 0; h < 32; h += 16) {
        const std::size_t valid = cols > h ? std::min<std::size_t>(16, cols - h) : 0;
        const std::size_t r0 = p.bqRow0 + j0 + s + h;
        for (std::size_t q = 0; q < pairs; q += 16) {
          transposeBlock(
              valid, 16,
              [&](int i) {
                __m512 lo, hi;
                dequantize32Avx512(w, r0 + i, c0 + 2 * q, lo, hi);
                const __m512bh words = _mm512_cvtne2ps_pbh(hi, lo);
                return _mm512_castsi512_ps(reinterpret_cast<const __m512i&>(words));
              },
              [&](int t, __m512 v) { _mm512_storeu_ps(reinterpret_cast<float*>(dst + (q + t) * 32 + h), v); });
        }
      }
      dst += pairs * 32;
    }
    return true;
  }
  // op(B)[k, j] = W[bqRow0 + k, bqCol0 + j]: rows k and k + 1 of W, 32 columns (one group) at a time.
  const std::size_t c0 = p.bqCol0 + j0;
  if (c0 % 32 != 0 || nc % 32 != 0) return false;
  for (std::size_t s = 0; s < nc; s += 32) {
    for (std::size_t q = 0; q < pairs; ++q) {
      __m512 lo0, hi0, lo1 = _mm512_setzero_ps(), hi1 = _mm512_setzero_ps();
      dequantize32Avx512(w, p.bqRow0 + k0 + 2 * q, c0 + s, lo0, hi0);
      if (2 * q + 1 < kc) dequantize32Avx512(w, p.bqRow0 + k0 + 2 * q + 1, c0 + s, lo1, hi1);
      _mm512_storeu_si512(dst + q * 32, _mm512_or_si512(bf16Lanes(lo0), _mm512_slli_epi32(bf16Lanes(lo1), 16)));
      _mm512_storeu_si512(dst + q * 32 + 16, _mm512_or_si512(bf16Lanes(hi0), _mm512_slli_epi32(bf16Lanes(hi1), 16)));
    }
    dst += pairs * 32;
  }
  return true;
}
#pragma GCC pop_options
#endif  // GIFTJS_PACK_X86

// A quantized B, one NR-wide sliver at a time: its kc x NR values are dequantized into a small
// float32 buffer as the weight stores them (transB: NR rows of kc, else kc rows of NR) and packed
// from there by the float32 packers, so every layout and kernel is packed by the code that packs
// float32 weights. (Whole panels would need KC x NC floats of scratch per thread.)
template <typename PackFloat>
void packBQuantized(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, int NR,
                    std::size_t slotsPerSliver, float* dst, PackFloat packFloat) {
  thread_local std::vector<float> sliver;
  sliver.resize(kc * static_cast<std::size_t>(NR));
  const QuantizedMatrix& w = *p.Bq;
  for (std::size_t s = 0; s < nc; s += NR) {
    const std::size_t cols = std::min<std::size_t>(NR, nc - s);
    GemmProblem q;
    q.transB = p.transB;
    q.B = sliver.data();
    if (p.transB) {
      for (std::size_t v = 0; v < cols; ++v) dequantizeRow(w, p.bqRow0 + j0 + s + v, p.bqCol0 + k0, kc, sliver.data() + v * kc);
      q.ldb = kc;
    } else {
      for (std::size_t k = 0; k < kc; ++k) dequantizeRow(w, p.bqRow0 + k0 + k, p.bqCol0 + j0 + s, cols, sliver.data() + k * NR);
      q.ldb = static_cast<std::size_t>(NR);
    }
    packFloat(q, 0, kc, 0, cols, NR, dst);
    dst += slotsPerSliver * NR;
  }
}

}  // namespace

void packA(const GemmProblem& p, std::size_t i0, std::size_t mc, std::size_t k0, std::size_t kc, int MR, float* dst) {
#ifdef GIFTJS_PACK_X86
  if (MR <= 16 && cpuHasAvx512()) return packAAvx512(p, i0, mc, k0, kc, MR, dst);
#endif
  packAPortable(p, i0, mc, k0, kc, MR, dst);
}

void packB(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, int NR, float* dst) {
#ifdef GIFTJS_PACK_X86
  if (p.Bq && p.Bq->bits == 16 && NR % 16 == 0 && cpuHasAvx512()) return packBHalvesAvx512(p, k0, kc, j0, nc, NR, dst);
#endif
  if (p.Bq) return packBQuantized(p, k0, kc, j0, nc, NR, kc, dst, packB);
#ifdef GIFTJS_PACK_X86
  if (NR % 16 == 0 && cpuHasAvx512()) return p.Bbf16 ? packBBf16Avx512(p, k0, kc, j0, nc, NR, dst) : packBAvx512(p, k0, kc, j0, nc, NR, dst);
#endif
  packBPortable(p, k0, kc, j0, nc, NR, dst);
}

void packAPairs(const GemmProblem& p, std::size_t i0, std::size_t mc, std::size_t k0, std::size_t kc, int MR,
                float* dst) {
  uint32_t* words = reinterpret_cast<uint32_t*>(dst);
#ifdef GIFTJS_PACK_X86
  if (MR <= 16) return packAPairsAvx512(p, i0, mc, k0, kc, MR, words);
#endif
  packAPairsPortable(p, i0, mc, k0, kc, MR, words);
}

void packARowPairs(const GemmProblem& p, std::size_t i0, std::size_t mc, std::size_t k0, std::size_t kc, int MR,
                   float* dst) {
  const std::size_t pairs = (kc + 1) / 2, rows = (mc + MR - 1) / MR * MR;
  uint16_t* out = reinterpret_cast<uint16_t*>(dst);
  // A row of bf16 values is already its pairs, in order (the low half of pair q is value 2q).
  for (std::size_t r = 0; r < rows; ++r) {
    uint16_t* row = out + r * 2 * pairs;
    if (r >= mc) std::memset(row, 0, pairs * 4);
    else if (!p.transA) floatsToBf16(p.A + (i0 + r) * p.lda + k0, kc, row);
    if (kc % 2) row[kc] = 0;
  }
  if (!p.transA) return;
  // op(A) = A^T: A's row k holds value k of every row of op(A), read along it.
  for (std::size_t k = 0; k < kc; ++k) {
    const float* src = p.A + (k0 + k) * p.lda + i0;
    for (std::size_t r = 0; r < mc; ++r) out[r * 2 * pairs + k] = static_cast<uint16_t>(roundToBf16(src[r]));
  }
}

std::size_t pairSliversPackedTogether(const GemmProblem& p, int NR) {
#ifdef GIFTJS_PACK_X86
  if (pairRowsReadAlong(p, NR)) return kRowPairChunkSlivers;
#endif
  (void)p, (void)NR;
  return 1;
}

void packBPairs(const GemmProblem& p, std::size_t k0, std::size_t kc, std::size_t j0, std::size_t nc, int NR,
                float* dst) {
  uint32_t* words = reinterpret_cast<uint32_t*>(dst);
#ifdef GIFTJS_PACK_X86
  if (p.Bq && p.Bq->bits != 16 && packBPairsQuantizedAvx512(p, k0, kc, j0, nc, NR, words)) return;
#endif
  if (p.Bq) return packBQuantized(p, k0, kc, j0, nc, NR, (kc + 1) / 2, dst, packBPairs);
#ifdef GIFTJS_PACK_X86
  if (pairRowsReadAlong(p, NR)) return packBPairsRowsAvx512(p, k0, kc, j0, nc, NR, words);
  if (NR % 16 == 0) {
    if (!p.Bbf16) return packBPairsFromFloatAvx512(p, k0, kc, j0, nc, NR, words);
    if (p.transB) return packBPairsTransposedAvx512(p, k0, kc, j0, nc, NR, words);
  }
#endif
  packBPairsPortable(p, k0, kc, j0, nc, NR, words);
}

}  // namespace giftjs

// The AMX-BF16 micro-kernel (Intel Sapphire Rapids and later): a 32 x 32 tile of C in four 16 x 16
// float32 tile registers, each TDPBF16PS taking 16 rows x 32 k of A against 32 k x 16 columns of B.
// On the 16-core Xeon of the device machine vdpbf16ps peaked at half the float32 FMA rate (788
// against 1,576 GFLOP/s), so bf16 compute ran slower than float32 there; a tile instruction does
// 16 x 16 x 32 products.
//
// Operands (microkernels.h, KernelInfo::rowPackedA):
//   B: the pair-packed slivers of the AVX-512 BF16 kernel (NR 32): pair q of columns 0..31 is 32
//      words of (k = 2q, 2q + 1) bits, so 16 pairs of 16 columns are a B tile, 128 bytes apart.
//   A: MR (32) rows, each holding its ceil(kc / 2) pairs contiguously (packARowPairs): 16 pairs of
//      16 rows are an A tile, one row's pairs apart.
// A slice whose pairs are not a multiple of 16 ends with a tile copied into zero-padded scratch,
// so that the tile shapes never change within a call (reconfiguring the tiles clears them).
//
// Beside it, the same arithmetic on the same layouts in scalar C++ ("amxbf16-reference"): never
// chosen by itself, it lets tests on CPUs without AMX check the packing and slicing that feed
// the tile kernel; the tile instructions themselves are checked where the CPU has them.
#include "gemm.h"

#include <cstdint>
#include <cstring>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "../runtime/amx.h"

namespace giftjs {

namespace {

constexpr int kRows = 32, kCols = 32;  // the C tile: 2 x 2 tile registers of 16 x 16
constexpr std::size_t kTilePairs = 16;  // pairs of k one tile instruction takes

// The scalar reference: C = alpha * AB (+ C) over the same packed layouts, float32 accumulation.
void kernelAmxReference(std::size_t kc, const float* A, const float* B, float* C, std::size_t ldc, float alpha,
                        bool accumulate) {
  const std::size_t pairs = (kc + 1) / 2;
  const uint32_t* a = reinterpret_cast<const uint32_t*>(A);
  const uint32_t* b = reinterpret_cast<const uint32_t*>(B);
  auto lo = [](uint32_t w) { return widenBf16(static_cast<uint16_t>(w & 0xffffu)); };
  auto hi = [](uint32_t w) { return widenBf16(static_cast<uint16_t>(w >> 16)); };
  for (int i = 0; i < kRows; ++i)
    for (int j = 0; j < kCols; ++j) {
      float acc = 0.0f;
      for (std::size_t q = 0; q < pairs; ++q) {
        const uint32_t x = a[i * pairs + q], y = b[q * kCols + j];
        acc += lo(x) * lo(y) + hi(x) * hi(y);
      }
      float& out = C[i * ldc + j];
      out = alpha * acc + (accumulate ? out : 0.0f);
    }
}

#if defined(__x86_64__)
// One chunk of 16 pairs: A rows 0-15 and 16-31 (aStride bytes apart), B columns 0-15 and 16-31.
__attribute__((target("amx-tile,amx-bf16"), always_inline)) inline void tileStep(const void* a0, const void* a1,
                                                                                std::size_t aStride, const void* b,
                                                                                std::size_t bStride) {
  _tile_loadd(4, a0, aStride);
  _tile_loadd(5, a1, aStride);
  _tile_loadd(6, b, bStride);
  _tile_loadd(7, static_cast<const char*>(b) + 64, bStride);
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  _tile_dpbf16ps(2, 5, 6);
  _tile_dpbf16ps(3, 5, 7);
}

__attribute__((target("amx-tile,amx-bf16,avx512f"))) void kernelAmx(std::size_t kc, const float* A, const float* B,
                                                                   float* C, std::size_t ldc, float alpha,
                                                                   bool accumulate) {
  static const AmxTileConfig config;  // 0-3 C, 4-5 A, 6-7 B
  _tile_loadconfig(&config);  // per call: the configuration is the calling thread's state
  const std::size_t pairs = (kc + 1) / 2, full = pairs / kTilePairs, tail = pairs % kTilePairs;
  const std::size_t aStride = pairs * 4, cStride = ldc * sizeof(float);
  // alpha 1 (every product but a few scaled ones) adds into C in the tile registers themselves.
  const bool direct = alpha == 1.0f;
  if (direct && accumulate) {
    _tile_loadd(0, C, cStride);
    _tile_loadd(1, C + 16, cStride);
    _tile_loadd(2, C + 16 * ldc, cStride);
    _tile_loadd(3, C + 16 * ldc + 16, cStride);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  const char* a = reinterpret_cast<const char*>(A);
  const char* b = reinterpret_cast<const char*>(B);
  for (std::size_t t = 0; t < full; ++t)
    tileStep(a + t * 64, a + 16 * aStride + t * 64, aStride, b + t * kTilePairs * kCols * 4, kCols * 4);
  if (tail) {
    alignas(64) uint32_t ta[kRows * kTilePairs] = {}, tb[kTilePairs * kCols] = {};
    const uint32_t* aw = reinterpret_cast<const uint32_t*>(A) + full * kTilePairs;
    for (int i = 0; i < kRows; ++i) std::memcpy(ta + i * kTilePairs, aw + i * pairs, tail * 4);
    std::memcpy(tb, reinterpret_cast<const uint32_t*>(B) + full * kTilePairs * kCols, tail * kCols * 4);
    tileStep(ta, ta + 16 * kTilePairs, kTilePairs * 4, tb, kCols * 4);
  }
  if (direct) {
    _tile_stored(0, C, cStride);
    _tile_stored(1, C + 16, cStride);
    _tile_stored(2, C + 16 * ldc, cStride);
    _tile_stored(3, C + 16 * ldc + 16, cStride);
  } else {
    alignas(64) float acc[kRows * kCols];
    _tile_stored(0, acc, kCols * 4);
    _tile_stored(1, acc + 16, kCols * 4);
    _tile_stored(2, acc + 16 * kCols, kCols * 4);
    _tile_stored(3, acc + 16 * kCols + 16, kCols * 4);
    const __m512 va = _mm512_set1_ps(alpha);
    for (int i = 0; i < kRows; ++i)
      for (int j = 0; j < kCols; j += 16) {
        float* out = C + i * ldc + j;
        __m512 v = _mm512_mul_ps(_mm512_load_ps(acc + i * kCols + j), va);
        if (accumulate) v = _mm512_add_ps(v, _mm512_loadu_ps(out));
        _mm512_storeu_ps(out, v);
      }
  }
  _tile_release();
}

const KernelInfo kAmxBf16{"amxbf16", kRows, kCols, &kernelAmx, true, nullptr, true};
#endif

const KernelInfo kAmxReference{"amxbf16-reference", kRows, kCols, &kernelAmxReference, true, nullptr, true};

}  // namespace

const KernelInfo* amxBf16Kernel() {
#if defined(__x86_64__)
  return amxUsable() ? &kAmxBf16 : nullptr;
#else
  return nullptr;
#endif
}

const KernelInfo& amxBf16ReferenceKernel() { return kAmxReference; }

}  // namespace giftjs

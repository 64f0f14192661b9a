// The sum of squares of a parameter or gradient tensor (gradient clipping's global norm, and the
// trainer's check that no value is NaN or infinite), and scaling one in place (clipping itself):
// passes over whole trainable tensors between steps. In TypeScript each took 85-130 ms a step over
// SmolLM2's 135 million parameters in a full fine-tune.
//
// The sum runs in double, in an order fixed by n alone, which the reference backend keeps too
// (src/backend/ref/memory_ops.ts refSumOfSquares), so both give the same bits with any number of
// threads: blocks of kSquaresBlock values from the start, each summed over 8 lanes (lane l takes
// values l, l + 8, ...; a square of a float32 is exact in double, so a fused multiply-add rounds as
// the reference's product and sum do), its lanes combined as (l, l + 4), then (l, l + 2), then
// (l, l + 1); the blocks' sums added in order from 0.
#include <algorithm>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "../runtime/cpu_features.h"
#include "../runtime/parallel.h"
#include "kernels.h"

namespace giftjs {

namespace {

constexpr std::size_t kLanes = 8;

double combineLanes(double* acc) {
  for (std::size_t width = kLanes / 2; width > 0; width /= 2)
    for (std::size_t l = 0; l < width; ++l) acc[l] += acc[l + width];
  return acc[0];
}

double blockSquaresScalar(const float* x, std::size_t n) {
  double acc[kLanes] = {};
  for (std::size_t i = 0; i < n; ++i) {
    const double v = x[i];
    acc[i % kLanes] += v * v;
  }
  return combineLanes(acc);
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) double blockSquares512(const float* x, std::size_t n) {
  __m512d acc = _mm512_setzero_pd();
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
    acc = _mm512_fmadd_pd(v, v, acc);
  }
  alignas(64) double lanes[kLanes];
  _mm512_store_pd(lanes, acc);
  for (std::size_t l = 0; i < n; ++i, ++l) {  // the block's last values, fewer than 8: lanes 0, 1, ...
    const double v = x[i];
    lanes[l] += v * v;
  }
  return combineLanes(lanes);
}
#endif

double blockSquares(const float* x, std::size_t n) {
#if defined(__x86_64__)
  if (cpuHasAvx512()) return blockSquares512(x, n);
#endif
  return blockSquaresScalar(x, n);
}

}  // namespace

double sumOfSquares(const float* x, std::size_t n) {
  const std::size_t blocks = (n + kSquaresBlock - 1) / kSquaresBlock;
  std::vector<double> sums(blocks);
  parallelChunks(blocks, 4, [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      const std::size_t from = b * kSquaresBlock;
      sums[b] = blockSquares(x + from, std::min(kSquaresBlock, n - from));
    }
  });
  double total = 0;
  for (double s : sums) total += s;
  return total;
}

void scaleInPlace(float* x, double s, std::size_t n) {
  // Each value times s in double, rounded once to float32, as the reference's x[i] *= s.
  parallelChunks(n, 16384, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) x[i] = static_cast<float>(static_cast<double>(x[i]) * s);
  });
}

}  // namespace giftjs

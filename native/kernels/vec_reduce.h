// Row reductions (sums and dot products) for the row kernels: norms, softmax, attention.
//
// A plain `s += x[j]` loop is one dependent chain of additions: the compiler may not reorder
// float additions, so it stays scalar and runs at one add per 3-4 cycles. RMSNorm's forward ran
// at ~15 GB/s whether its rows sat in L2 or in memory (compute bound, 1.2 ms for 4096 x 576).
// These keep 16 independent partial sums instead, which the compiler turns into vector adds on
// any x86-64 (or NEON) target, and combine them pairwise at the end. The order is fixed by n
// alone, so a row sums the same way whichever thread takes it and however many threads there are.
#pragma once
#include <cstddef>

namespace giftjs {

namespace reduce_detail {
constexpr int kLanes = 16;
inline float combine(float* acc) {
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) acc[l] += acc[l + width];
  return acc[0];
}
}  // namespace reduce_detail

/** sum over j < n of term(j), in 16 lanes (term must be cheap and side-effect free). */
template <typename Term>
inline float laneSum(std::size_t n, Term term) {
  using reduce_detail::kLanes;
  float acc[kLanes] = {};
  std::size_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += term(j + l);
  for (int l = 0; j < n; ++j, ++l) acc[l] += term(j);
  return reduce_detail::combine(acc);
}

/** sum of a[j] */
inline float sumOf(const float* a, std::size_t n) {
  return laneSum(n, [a](std::size_t j) { return a[j]; });
}
/** sum of a[j] * b[j] */
inline float dotOf(const float* a, const float* b, std::size_t n) {
  return laneSum(n, [a, b](std::size_t j) { return a[j] * b[j]; });
}
/** sum of a[j] * b[j] * c[j] */
inline float dotOf3(const float* a, const float* b, const float* c, std::size_t n) {
  return laneSum(n, [a, b, c](std::size_t j) { return a[j] * b[j] * c[j]; });
}

}  // namespace giftjs

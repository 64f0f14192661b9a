// Sums over broadcast dimensions (a bias's gradient over rows, a mean over a sequence): out[o] =
// scale * the sum of src's values that the output strides send to o (stride 0 along a summed
// dimension). Each output sums its values in row order in double and is rounded once, as the
// reference backend sums (src/backend/ref/memory_ops.ts), so both give the same bits; the threads
// take disjoint columns of the last dimension, which keeps every output's order.
#include <vector>

#include "../runtime/parallel.h"
#include "kernels.h"

namespace giftjs {

void reduceSum(const StridedLayout& s, const float* src, float* out, std::size_t outLength, double scale) {
  const std::size_t n = s.lastDim(), rows = s.rows();
  const std::size_t lastStride = s.rank ? s.strides[0][s.rank - 1] : 0;
  std::vector<double> acc(outLength, 0.0);
  const auto sumColumns = [&](std::size_t j0, std::size_t j1) {
    for (std::size_t r = 0; r < rows; ++r) {
      const float* row = src + r * n;
      double* a = acc.data() + s.rowOffset(0, r);
      for (std::size_t j = j0; j < j1; ++j) a[j * lastStride] += row[j];
    }
  };
  // Columns apart in the output (stride 1) can go to different threads; a summed last dimension
  // (stride 0) sends a whole row to one output, whose order only one thread keeps.
  if (lastStride == 1) parallelChunks(n, 64, sumColumns);
  else sumColumns(0, n);
  for (std::size_t i = 0; i < outLength; ++i) out[i] = static_cast<float>(acc[i] * scale);
}

}  // namespace giftjs

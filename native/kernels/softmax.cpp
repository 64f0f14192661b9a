// Softmax and log-softmax over the last axis, forward and backward side by side.
#include <cmath>

#include "../runtime/parallel.h"
#include "kernels.h"
#include "vec_exp.h"
#include "vec_reduce.h"

namespace giftjs {

float logSumExp(const float* row, std::size_t n) { return logSumExpRow(row, n); }

void softmaxForward(const float* x, float* y, std::size_t rows, std::size_t cols) {
  parallelChunks(rows, 8, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      const float inv = 1.0f / expShifted(xr, rowMax(xr, cols), yr, cols);
      for (std::size_t j = 0; j < cols; ++j) yr[j] *= inv;
    }
  });
}

void softmaxBackward(const float* y, const float* dy, float* dx, std::size_t rows,
                     std::size_t cols) {
  parallelChunks(rows, 8, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float* yr = y + r * cols;
      const float* gr = dy + r * cols;
      const float dot = dotOf(yr, gr, cols);
      float* dxr = dx + r * cols;
      for (std::size_t j = 0; j < cols; ++j) dxr[j] = yr[j] * (gr[j] - dot);
    }
  });
}

void logSoftmaxForward(const float* x, float* y, std::size_t rows, std::size_t cols) {
  parallelChunks(rows, 8, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float lse = logSumExpRow(x + r * cols, cols);
      for (std::size_t j = 0; j < cols; ++j) y[r * cols + j] = x[r * cols + j] - lse;
    }
  });
}

void logSoftmaxBackward(const float* y, const float* dy, float* dx, std::size_t rows,
                        std::size_t cols) {
  parallelChunks(rows, 8, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float* gr = dy + r * cols;
      const float s = sumOf(gr, cols);
      for (std::size_t j = 0; j < cols; ++j)
        dx[r * cols + j] = gr[j] - std::exp(y[r * cols + j]) * s;
    }
  });
}

}  // namespace giftjs

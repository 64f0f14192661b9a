// RMSNorm and LayerNorm, forward and backward side by side. Rows are independent, so the row
// loops run over the thread pool; weight gradients are summed per thread, then reduced.
#include <cmath>
#include <cstring>
#include <vector>

#include "../runtime/parallel.h"
#include "kernels.h"
#include "vec_reduce.h"

namespace giftjs {

namespace {

// Runs body(rowBegin, rowEnd, partial) per thread; partial is a zeroed buffer of `width`
// floats per thread (for weight gradients), summed into `target` afterwards when non-null.
template <typename Body>
void rowsWithPartials(std::size_t rows, std::size_t cols, std::size_t width, float* const* targets,
                      int nTargets, Body body) {
  ThreadPool& pool = ThreadPool::instance();
  std::size_t chunks = static_cast<std::size_t>(pool.threads());
  if (rows * cols < 32768) chunks = 1;
  if (chunks > rows) chunks = rows > 0 ? rows : 1;
  std::vector<float> partials(chunks * width * nTargets, 0.0f);
  pool.parallelFor(chunks, [&](std::size_t c) {
    body(rows * c / chunks, rows * (c + 1) / chunks, partials.data() + c * width * nTargets);
  });
  for (int t = 0; t < nTargets; ++t) {
    if (!targets[t]) continue;
    for (std::size_t c = 0; c < chunks; ++c) {
      const float* part = partials.data() + c * width * nTargets + t * width;
      for (std::size_t j = 0; j < width; ++j) targets[t][j] += part[j];
    }
  }
}

}  // namespace

void rmsNormForward(const float* x, const float* w, float* y, float* rstd, std::size_t rows,
                    std::size_t cols, float eps) {
  parallelChunks(rows, 16, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      const float ss = dotOf(xr, xr, cols);
      const float inv = 1.0f / std::sqrt(ss / static_cast<float>(cols) + eps);
      rstd[r] = inv;
      for (std::size_t j = 0; j < cols; ++j) yr[j] = xr[j] * inv * w[j];
    }
  });
}

void rmsNormBackward(const float* x, const float* w, const float* rstd, const float* dy,
                     float* dx, float* dw, std::size_t rows, std::size_t cols) {
  float* targets[1] = {dw};
  rowsWithPartials(rows, cols, cols, targets, 1, [&](std::size_t r0, std::size_t r1, float* dwPart) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      const float* dyr = dy + r * cols;
      const float inv = rstd[r];
      if (dw)
        for (std::size_t j = 0; j < cols; ++j) dwPart[j] += dyr[j] * xr[j] * inv;
      if (dx) {
        // dx = rstd * (g - xhat * mean(g * xhat)),  g = dy * w,  xhat = x * rstd
        const float dot = dotOf3(dyr, w, xr, cols);
        const float coef = dot * inv * inv / static_cast<float>(cols);
        float* dxr = dx + r * cols;
        for (std::size_t j = 0; j < cols; ++j) dxr[j] = inv * (dyr[j] * w[j] - xr[j] * coef);
      }
    }
  });
}

void layerNormForward(const float* x, const float* w, const float* b, float* y, float* mean,
                      float* rstd, std::size_t rows, std::size_t cols, float eps) {
  parallelChunks(rows, 16, [&](std::size_t r0, std::size_t r1) {
    const float n = static_cast<float>(cols);
    for (std::size_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      const float mu = sumOf(xr, cols) / n;
      const float v = laneSum(cols, [xr, mu](std::size_t j) { return (xr[j] - mu) * (xr[j] - mu); });
      const float inv = 1.0f / std::sqrt(v / n + eps);
      mean[r] = mu;
      rstd[r] = inv;
      for (std::size_t j = 0; j < cols; ++j) yr[j] = (xr[j] - mu) * inv;
      if (w)
        for (std::size_t j = 0; j < cols; ++j) yr[j] *= w[j];
      if (b)
        for (std::size_t j = 0; j < cols; ++j) yr[j] += b[j];
    }
  });
}

void layerNormBackward(const float* x, const float* w, const float* mean, const float* rstd,
                       const float* dy, float* dx, float* dw, float* db, std::size_t rows,
                       std::size_t cols) {
  float* targets[2] = {dw, db};
  const float n = static_cast<float>(cols);
  rowsWithPartials(rows, cols, cols, targets, 2, [&](std::size_t r0, std::size_t r1, float* part) {
    float* dwPart = part;
    float* dbPart = part + cols;
    for (std::size_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      const float* dyr = dy + r * cols;
      const float mu = mean[r], inv = rstd[r];
      // g = dy * w and xhat = (x - mu) * rstd, summed in lanes (vectorised), then the
      // weight gradients in their own loops so that none of them branches per element.
      const float sumG = w ? dotOf(dyr, w, cols) : sumOf(dyr, cols);
      const float sumGX = w ? laneSum(cols, [=](std::size_t j) { return dyr[j] * w[j] * ((xr[j] - mu) * inv); })
                            : laneSum(cols, [=](std::size_t j) { return dyr[j] * ((xr[j] - mu) * inv); });
      if (dw)
        for (std::size_t j = 0; j < cols; ++j) dwPart[j] += dyr[j] * ((xr[j] - mu) * inv);
      if (db)
        for (std::size_t j = 0; j < cols; ++j) dbPart[j] += dyr[j];
      if (dx) {
        // dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
        float* dxr = dx + r * cols;
        const float mg = sumG / n, mgx = sumGX / n;
        if (w)
          for (std::size_t j = 0; j < cols; ++j) dxr[j] = inv * (dyr[j] * w[j] - mg - (xr[j] - mu) * inv * mgx);
        else
          for (std::size_t j = 0; j < cols; ++j) dxr[j] = inv * (dyr[j] - mg - (xr[j] - mu) * inv * mgx);
      }
    }
  });
}

}  // namespace giftjs

// RMSNorm and LayerNorm, forward and backward side by side. Rows are independent, so the row
// loops run over the thread pool; weight gradients are summed per thread, then reduced.
#include <cmath>
#include <cstring>
#include <vector>

#include "../runtime/parallel.h"
#include "kernels.h"

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
      float ss = 0.0f;
      for (std::size_t j = 0; j < cols; ++j) ss += xr[j] * xr[j];
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
        float dot = 0.0f;
        for (std::size_t j = 0; j < cols; ++j) dot += dyr[j] * w[j] * xr[j];
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
      float s = 0.0f;
      for (std::size_t j = 0; j < cols; ++j) s += xr[j];
      const float mu = s / n;
      float v = 0.0f;
      for (std::size_t j = 0; j < cols; ++j) v += (xr[j] - mu) * (xr[j] - mu);
      const float inv = 1.0f / std::sqrt(v / n + eps);
      mean[r] = mu;
      rstd[r] = inv;
      for (std::size_t j = 0; j < cols; ++j) {
        float h = (xr[j] - mu) * inv;
        if (w) h *= w[j];
        if (b) h += b[j];
        yr[j] = h;
      }
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
      float sumG = 0.0f, sumGX = 0.0f;
      for (std::size_t j = 0; j < cols; ++j) {
        const float xhat = (xr[j] - mu) * inv;
        const float g = w ? dyr[j] * w[j] : dyr[j];
        sumG += g;
        sumGX += g * xhat;
        if (dw) dwPart[j] += dyr[j] * xhat;
        if (db) dbPart[j] += dyr[j];
      }
      if (dx) {
        // dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
        float* dxr = dx + r * cols;
        const float mg = sumG / n, mgx = sumGX / n;
        for (std::size_t j = 0; j < cols; ++j) {
          const float xhat = (xr[j] - mu) * inv;
          const float g = w ? dyr[j] * w[j] : dyr[j];
          dxr[j] = inv * (g - mg - xhat * mgx);
        }
      }
    }
  });
}

}  // namespace giftjs

// Rotary position embeddings (rotate-half form), forward and backward in one kernel: the
// backward of a rotation is the rotation by the opposite angle (direction -1).
#include "../runtime/parallel.h"
#include "kernels.h"

namespace giftjs {

void ropeRotate(const float* src, float* dst, const float* cos, const float* sin, std::size_t rows,
                std::size_t T, std::size_t D, float direction) {
  const std::size_t half = D / 2;
  const std::size_t minRows = D >= 4096 ? 1 : 4096 / (D ? D : 1);
  parallelChunks(rows, minRows, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const std::size_t t = r % T;
      const float* c = cos + t * half;
      const float* sn = sin + t * half;
      const float* x = src + r * D;
      float* y = dst + r * D;
      for (std::size_t i = 0; i < half; ++i) {
        const float s = sn[i] * direction, x1 = x[i], x2 = x[half + i];
        y[i] = x1 * c[i] - x2 * s;
        y[half + i] = x2 * c[i] + x1 * s;
      }
    }
  });
}

}  // namespace giftjs

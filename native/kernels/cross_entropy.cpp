// Cross-entropy against integer targets, fused with log-softmax. The forward keeps one float per
// row (the log-sum-exp); the backward writes softmax - onehot straight into the gradient.
#include <cmath>

#include "../runtime/parallel.h"
#include "kernels.h"
#include "vec_exp.h"

namespace giftjs {

float logSumExp(const float* row, std::size_t n);  // softmax.cpp

void crossEntropyForward(const float* logits, const int32_t* targets, float* loss, float* lse,
                         std::size_t rows, std::size_t vocab, int32_t ignoreIndex) {
  parallelChunks(rows, 1, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float* row = logits + r * vocab;
      const float l = logSumExp(row, vocab);
      lse[r] = l;
      loss[r] = targets[r] == ignoreIndex ? 0.0f : l - row[targets[r]];
    }
  });
}

// dlogits may be logits itself (linearCrossEntropy writes the gradient over its chunk's logits):
// each value is read before it is written.
void crossEntropyBackward(const float* logits, const int32_t* targets, const float* lse,
                          const float* rowScale, float* dlogits, std::size_t rows,
                          std::size_t vocab, int32_t ignoreIndex) {
  parallelChunks(rows, 1, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      float* d = dlogits + r * vocab;
      if (targets[r] == ignoreIndex) {
        for (std::size_t j = 0; j < vocab; ++j) d[j] = 0.0f;
        continue;
      }
      const float* row = logits + r * vocab;
      const float g = rowScale[r];
      expShifted(row, lse[r], d, vocab);
      for (std::size_t j = 0; j < vocab; ++j) d[j] *= g;
      d[targets[r]] -= g;
    }
  });
}

}  // namespace giftjs

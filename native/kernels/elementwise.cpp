// Elementwise binary arithmetic with broadcasting (add, sub, mul, div), threaded over output
// rows. The common cases (both operands contiguous; one a repeated row or a scalar) run as plain
// unit-stride loops the compiler vectorises; anything else walks the operands' strides.
#include "../runtime/parallel.h"
#include "kernels.h"

namespace giftjs {

namespace {

template <BinaryOp Op>
inline float apply(float x, float y) {
  if constexpr (Op == BinaryOp::Add) return x + y;
  if constexpr (Op == BinaryOp::Sub) return x - y;
  if constexpr (Op == BinaryOp::Mul) return x * y;
  return x / y;
}

template <BinaryOp Op>
void run(const StridedLayout& s, const float* a, const float* b, float* out) {
  const std::size_t n = s.lastDim(), rows = s.rows();
  const std::size_t sa = s.rank ? s.strides[0][s.rank - 1] : 0;
  const std::size_t sb = s.rank ? s.strides[1][s.rank - 1] : 0;
  const std::size_t minRows = n >= 16384 ? 1 : 16384 / (n ? n : 1);
  parallelChunks(rows, minRows, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float* ar = a + s.rowOffset(0, r);
      const float* br = b + s.rowOffset(1, r);
      float* o = out + r * n;
      if (sa == 1 && sb == 1) {
        for (std::size_t j = 0; j < n; ++j) o[j] = apply<Op>(ar[j], br[j]);
      } else if (sa == 1 && sb == 0) {
        const float y = br[0];
        for (std::size_t j = 0; j < n; ++j) o[j] = apply<Op>(ar[j], y);
      } else if (sa == 0 && sb == 1) {
        const float x = ar[0];
        for (std::size_t j = 0; j < n; ++j) o[j] = apply<Op>(x, br[j]);
      } else {
        for (std::size_t j = 0; j < n; ++j) o[j] = apply<Op>(ar[j * sa], br[j * sb]);
      }
    }
  });
}

}  // namespace

void binaryForward(BinaryOp op, const StridedLayout& s, const float* a, const float* b, float* out) {
  switch (op) {
    case BinaryOp::Add: return run<BinaryOp::Add>(s, a, b, out);
    case BinaryOp::Sub: return run<BinaryOp::Sub>(s, a, b, out);
    case BinaryOp::Mul: return run<BinaryOp::Mul>(s, a, b, out);
    case BinaryOp::Div: return run<BinaryOp::Div>(s, a, b, out);
  }
}

void copyStrided(const StridedLayout& s, const float* src, float* dst) {
  const std::size_t n = s.lastDim(), rows = s.rows();
  const std::size_t stride = s.rank ? s.strides[0][s.rank - 1] : 0;
  const std::size_t minRows = n >= 16384 ? 1 : 16384 / (n ? n : 1);
  parallelChunks(rows, minRows, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float* in = src + s.rowOffset(0, r);
      float* o = dst + r * n;
      if (stride == 1) {
        for (std::size_t j = 0; j < n; ++j) o[j] = in[j];
      } else {
        for (std::size_t j = 0; j < n; ++j) o[j] = in[j * stride];
      }
    }
  });
}

}  // namespace giftjs

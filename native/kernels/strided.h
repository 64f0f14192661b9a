// Walking an N-d output in row-major order while reading operands through strides: the
// shared machinery of broadcasting arithmetic and strided copies (permutes). Work is split by
// output rows (all dimensions but the last); a row's input offsets come from dividing its index,
// and the innermost loop runs over the last dimension with each operand's own stride.
#pragma once
#include <cstddef>
#include <vector>

namespace giftjs {

constexpr std::size_t kMaxRank = 8;

struct StridedLayout {
  std::size_t rank = 0;
  std::size_t shape[kMaxRank] = {};
  // strides[k][d]: operand k's element stride along output dimension d (0 = broadcast).
  std::size_t strides[2][kMaxRank] = {};

  std::size_t lastDim() const { return rank ? shape[rank - 1] : 1; }
  std::size_t rows() const {
    std::size_t r = 1;
    for (std::size_t d = 0; d + 1 < rank; ++d) r *= shape[d];
    return rank ? r : 1;
  }
  // Offset of operand k at the start of output row `row`.
  std::size_t rowOffset(std::size_t k, std::size_t row) const {
    std::size_t off = 0;
    if (rank == 0) return 0;
    for (std::size_t d = rank - 1; d-- > 0;) {
      off += (row % shape[d]) * strides[k][d];
      row /= shape[d];
    }
    return off;
  }
};

}  // namespace giftjs

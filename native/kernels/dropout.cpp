// Inverted dropout with its mask drawn where it is applied (dropout_mask.h): the tensor split into
// one contiguous span per thread, each drawing its values' hashes from their flat indices.
#include <cstdint>

#include "../runtime/parallel.h"
#include "dropout_mask.h"
#include "kernels.h"

namespace giftjs {

void dropoutMultiply(const float* x, float* out, std::size_t n, std::uint32_t key0, std::uint32_t key1, std::uint32_t dropBelow,
                     float keepScale) {
  parallelChunks(n, 16384, [&](std::size_t i0, std::size_t i1) {
    dropoutSpan(x + i0, out + i0, i1 - i0, static_cast<std::uint32_t>(i0), key0, key1, dropBelow, keepScale);
  });
}

}  // namespace giftjs

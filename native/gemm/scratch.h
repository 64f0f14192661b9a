// Per-thread packing buffers for the GEMM drivers (gemm.cpp, weight_rows.cpp): 64-byte aligned,
// grown on demand and reused across calls.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <memory>

namespace giftjs {

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float, AlignedFree>;

// At least `floats` floats of buf (cap: what it holds now), reallocated when it holds fewer.
inline float* scratch(Buffer& buf, std::size_t& cap, std::size_t floats) {
  if (floats > cap) {
    buf.reset(static_cast<float*>(std::aligned_alloc(64, ((floats * 4 + 63) / 64) * 64)));
    cap = floats;
  }
  return buf.get();
}

}  // namespace giftjs

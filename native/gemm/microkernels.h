// Register-blocked GEMM micro-kernels, one per instruction set.
//
// Each kernel computes an MR x NR tile of  A_panel * B_panel  over kc steps, where
//   A_panel holds kc columns of MR contiguous floats   (packed by packA)
//   B_panel holds kc rows    of NR contiguous floats   (packed by packB)
// and stores or accumulates it into C (row-major, leading dimension ldc):
//   C = alpha * AB            when accumulate == false
//   C = C + alpha * AB        when accumulate == true
// Kernels always compute a full MR x NR tile; the driver handles edge tiles through a
// scratch tile, so the kernels stay branch-free in their inner loop.
#pragma once
#include <cstddef>

namespace giftjs {

using MicroKernel = void (*)(std::size_t kc, const float* A, const float* B, float* C,
                             std::size_t ldc, float alpha, bool accumulate);

struct KernelInfo {
  const char* name;   // "avx512", "avx2", "portable"
  int mr, nr;         // tile shape
  MicroKernel kernel;
};

// Picks the widest kernel the running CPU supports (checked once, at run time).
const KernelInfo& selectKernel();
// Returns the kernel for an instruction set by name, or nullptr when the CPU lacks it.
const KernelInfo* kernelByName(const char* name);

}  // namespace giftjs

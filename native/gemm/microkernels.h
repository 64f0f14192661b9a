// Register-blocked GEMM micro-kernels, one per instruction set.
//
// Each kernel computes an MR x NR tile of  A_panel * B_panel  over kc steps, where
//   A_panel holds kc columns of MR contiguous floats   (packed by packA)
//   B_panel holds kc rows    of NR contiguous floats   (packed by packB)
// and stores or accumulates it into C (row-major, leading dimension ldc):
//   C = alpha * AB            when accumulate == false
//   C = C + alpha * AB        when accumulate == true
// Kernels always compute a full MR x NR tile; the driver handles edge tiles with a short-rows
// variant (KernelInfo::shortRows) or through a scratch tile, so the kernels stay branch-free in
// their inner loop.
#pragma once
#include <cstddef>

namespace giftjs {

using MicroKernel = void (*)(std::size_t kc, const float* A, const float* B, float* C,
                             std::size_t ldc, float alpha, bool accumulate);

struct KernelInfo {
  const char* name;   // "avx512", "avx2", "portable", "avx512bf16", "amxbf16"
  int mr, nr;         // tile shape
  MicroKernel kernel;
  // The bf16 dot-product kernel reads panels packed as pairs: each 32-bit slot holds the
  // bfloat16 values of k and k + 1 (ceil(kc / 2) steps instead of kc).
  bool pairPacked = false;
  // Optional: shortRows[m] (0 < m < mr) computes only the first m rows of a full-width tile whose A
  // sliver is packed mr tall, storing straight into C; null where a kernel has none (then the
  // driver computes the full tile into scratch).
  const MicroKernel* shortRows = nullptr;
  // The AMX kernel reads A's sliver row by row: row r's pairs contiguous (packARowPairs), as a tile
  // register loads them; B stays pair-packed.
  bool rowPackedA = false;
};

// The AVX-512 BF16 kernel (vdpbf16ps: two bf16 products accumulated in float32 per lane), or
// nullptr when the CPU lacks it. Used for bfloat16 weights when enabled with setBf16Compute.
const KernelInfo* bf16DotKernel();
// The AMX-BF16 tile kernel (amx_kernel.cpp), or nullptr where the CPU or the OS does not offer AMX;
// and its scalar reference on the same layouts (tests check the packing with it anywhere).
const KernelInfo* amxBf16Kernel();
const KernelInfo& amxBf16ReferenceKernel();

// Picks the widest kernel the running CPU supports (checked once, at run time).
const KernelInfo& selectKernel();
// Returns the kernel for an instruction set by name, or nullptr when the CPU lacks it.
const KernelInfo* kernelByName(const char* name);

}  // namespace giftjs

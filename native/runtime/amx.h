// Intel AMX (the tile registers and their bf16 dot products), shared by the GEMM's tile kernel
// (gemm/amx_kernel.cpp) and the peak it is measured against (runtime/peak.cpp).
#pragma once

#include <cstdint>
#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace giftjs {

// The tile palette both use: every tile 16 rows of 64 bytes (a 16 x 16 float32 block, or 16 rows of
// 32 bf16 values); tiles 0-3 accumulate, 4-7 hold operands.
struct alignas(64) AmxTileConfig {
  uint8_t palette = 1, startRow = 0;
  uint8_t reserved[14] = {};
  uint16_t colBytes[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};

// The CPU has AMX-TILE and AMX-BF16 (CPUID 7.0 EDX bits 24 and 22) with AVX-512 BF16 beside them, and
// Linux lets this process use the tile data (arch_prctl ARCH_REQ_XCOMP_PERM for XTILEDATA, asked once
// per process; without it the first tile instruction faults). Checked once.
inline bool amxUsable() {
#if defined(__x86_64__) && defined(__linux__)
  static const bool usable = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    if (!(edx & (1u << 24)) || !(edx & (1u << 22))) return false;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16")) return false;
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return usable;
#else
  return false;
#endif
}

}  // namespace giftjs

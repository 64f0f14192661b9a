// Run-time CPU feature checks, each made once per process. Kernels compiled for a wider
// instruction set (function target attributes or pragmas) run only where these say so, so one
// binary built on one machine runs on another.
#pragma once

namespace giftjs {

inline bool cpuHasAvx512() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
  }();
  return yes;
#else
  return false;
#endif
}

// AVX-512 with VNNI and the BW / VL / DQ subsets the int8-activation kernels use beside it (every
// CPU with VNNI has them; quantized.cpp's dot products and int8_gemm.cpp's strips ask this).
inline bool cpuHasAvx512Vnni() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool yes = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
  }();
  return yes && cpuHasAvx512();
#else
  return false;
#endif
}

}  // namespace giftjs

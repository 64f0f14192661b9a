// The micro-kernels behind gemm.cpp. Each is compiled for its own instruction set with a
// function-level target attribute, so one binary carries all of them and picks at run time
// (__builtin_cpu_supports) instead of at build time: a build on one machine runs on another.
#include "microkernels.h"

#include "../runtime/cpu_features.h"

#include <cstring>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <array>
#include <cstdint>
#include <initializer_list>
#include <utility>

namespace giftjs {

#if defined(__x86_64__) || defined(__i386__)
#define GIFTJS_X86 1
// The common end of the AVX-512 kernels: C = alpha * AB (+ C) for an MR x 32 tile held in the
// accumulators c0 (columns 0-15) and c1 (16-31). Always inlined, so they stay in registers.
template <int MR>
__attribute__((target("avx512f,fma"), always_inline)) inline void storeTile512(const __m512* c0, const __m512* c1, float* C,
                                                                              std::size_t ldc, float alpha, bool accumulate) {
  const __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* row = C + i * ldc;
    __m512 r0 = _mm512_mul_ps(c0[i], va), r1 = _mm512_mul_ps(c1[i], va);
    if (accumulate) {
      r0 = _mm512_add_ps(r0, _mm512_loadu_ps(row));
      r1 = _mm512_add_ps(r1, _mm512_loadu_ps(row + 16));
    }
    _mm512_storeu_ps(row, r0);
    _mm512_storeu_ps(row + 16, r1);
  }
}

// AVX-512: 14 rows x 32 columns. 28 accumulators + 2 B vectors + 1 broadcast = 31 of the 32
// zmm registers. Every k step issues 28 FMAs against 2 loads and 14 broadcasts (which GCC folds
// into the FMA as an embedded {1to16} memory operand), enough to keep both FMA pipes busy.
// MR rows are computed from an A sliver packed STRIDE tall (STRIDE > MR: a short last sliver).
template <int MR, int STRIDE = MR>
__attribute__((target("avx512f,fma"))) static void kernelAvx512(std::size_t kc, const float* A,
                                                                 const float* B, float* C,
                                                                 std::size_t ldc, float alpha,
                                                                 bool accumulate) {
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    c0[i] = _mm512_setzero_ps();
    c1[i] = _mm512_setzero_ps();
  }
  for (std::size_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(B);
    const __m512 b1 = _mm512_load_ps(B + 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 a = _mm512_set1_ps(A[i]);
      c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
    }
    A += STRIDE;
    B += 32;
  }
  storeTile512<MR>(c0, c1, C, ldc, alpha, accumulate);
}

// AVX2 + FMA: 6 rows x 16 columns, 12 accumulators in the 16 ymm registers.
__attribute__((target("avx2,fma"))) static void kernelAvx2(std::size_t kc, const float* A,
                                                          const float* B, float* C,
                                                          std::size_t ldc, float alpha,
                                                          bool accumulate) {
  constexpr int MR = 6;
  __m256 c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) {
    c0[i] = _mm256_setzero_ps();
    c1[i] = _mm256_setzero_ps();
  }
  for (std::size_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(B);
    const __m256 b1 = _mm256_load_ps(B + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(A + i);
      c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
    }
    A += MR;
    B += 16;
  }
  const __m256 va = _mm256_set1_ps(alpha);
  for (int i = 0; i < MR; ++i) {
    float* row = C + i * ldc;
    __m256 r0 = _mm256_mul_ps(c0[i], va), r1 = _mm256_mul_ps(c1[i], va);
    if (accumulate) {
      r0 = _mm256_add_ps(r0, _mm256_loadu_ps(row));
      r1 = _mm256_add_ps(r1, _mm256_loadu_ps(row + 8));
    }
    _mm256_storeu_ps(row, r0);
    _mm256_storeu_ps(row + 8, r1);
  }
}

// AVX-512 BF16: 14 rows x 32 columns over k-pairs. Each 32-bit slot of A holds the bf16 pair
// (a[k], a[k+1]) of one row, broadcast to all lanes; each slot of B the pair (b[k][j], b[k+1][j]);
// vdpbf16ps adds a[k] b[k][j] + a[k+1] b[k+1][j] to the float32 accumulator of column j.
// MR and STRIDE as in kernelAvx512.
template <int MR, int STRIDE = MR>
__attribute__((target("avx512f,avx512bf16,fma"))) static void kernelAvx512Bf16(std::size_t kc, const float* A,
                                                                           const float* B, float* C,
                                                                           std::size_t ldc, float alpha,
                                                                           bool accumulate) {
  const uint32_t* a = reinterpret_cast<const uint32_t*>(A);
  const uint32_t* b = reinterpret_cast<const uint32_t*>(B);
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    c0[i] = _mm512_setzero_ps();
    c1[i] = _mm512_setzero_ps();
  }
  const std::size_t pairs = (kc + 1) / 2;
  for (std::size_t p = 0; p < pairs; ++p) {
    const __m512bh b0 = (__m512bh)_mm512_load_si512(b);
    const __m512bh b1 = (__m512bh)_mm512_load_si512(b + 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[i]));
      c0[i] = _mm512_dpbf16_ps(c0[i], ai, b0);
      c1[i] = _mm512_dpbf16_ps(c1[i], ai, b1);
    }
    a += STRIDE;
    b += 32;
  }
  storeTile512<MR>(c0, c1, C, ldc, alpha, accumulate);
}

#endif  // x86

// Portable: 4 x 8 in plain C++; the compiler vectorises it with whatever the baseline ISA has.
static void kernelPortable(std::size_t kc, const float* A, const float* B, float* C,
                           std::size_t ldc, float alpha, bool accumulate) {
  constexpr int MR = 4, NR = 8;
  float acc[MR][NR] = {};
  for (std::size_t p = 0; p < kc; ++p) {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) acc[i][j] += A[i] * B[j];
    A += MR;
    B += NR;
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j)
      C[i * ldc + j] = alpha * acc[i][j] + (accumulate ? C[i * ldc + j] : 0.0f);
}

#ifdef GIFTJS_X86
// The last sliver of A usually holds fewer than 14 rows (128 = 9 x 14 + 2): computing them as a
// full tile spent 12 rows' arithmetic on zero padding, 8.6% of a 128-row GEMM. These compute only
// the sliver's first m rows (the packed stride stays 14) and store them straight into C.
template <template <int, int> class Kernel, std::size_t... M>
constexpr std::array<MicroKernel, 14> shortTable(std::index_sequence<M...>) {
  return {nullptr, &Kernel<M + 1, 14>::run...};
}
template <int ROWS, int STRIDE>
struct ShortAvx512 {
  static void run(std::size_t kc, const float* A, const float* B, float* C, std::size_t ldc, float alpha, bool acc) {
    kernelAvx512<ROWS, STRIDE>(kc, A, B, C, ldc, alpha, acc);
  }
};
template <int ROWS, int STRIDE>
struct ShortAvx512Bf16 {
  static void run(std::size_t kc, const float* A, const float* B, float* C, std::size_t ldc, float alpha, bool acc) {
    kernelAvx512Bf16<ROWS, STRIDE>(kc, A, B, C, ldc, alpha, acc);
  }
};
static constexpr std::array<MicroKernel, 14> kShortAvx512 = shortTable<ShortAvx512>(std::make_index_sequence<13>());
static constexpr std::array<MicroKernel, 14> kShortAvx512Bf16 = shortTable<ShortAvx512Bf16>(std::make_index_sequence<13>());
static const KernelInfo kAvx512{"avx512", 14, 32, &kernelAvx512<14>, false, kShortAvx512.data()};
static const KernelInfo kAvx2{"avx2", 6, 16, &kernelAvx2};
static const KernelInfo kAvx512Bf16{"avx512bf16", 14, 32, &kernelAvx512Bf16<14>, true, kShortAvx512Bf16.data()};
#endif

const KernelInfo* bf16DotKernel() {
#ifdef GIFTJS_X86
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f");
  }();
  return has ? &kAvx512Bf16 : nullptr;
#else
  return nullptr;
#endif
}
static const KernelInfo kPortable{"portable", 4, 8, &kernelPortable};

static bool cpuHas(const char* name) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (std::strcmp(name, "avx512") == 0) return cpuHasAvx512();
  if (std::strcmp(name, "avx2") == 0)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return std::strcmp(name, "portable") == 0;
}

const KernelInfo* kernelByName(const char* name) {
  if (!cpuHas(name)) return nullptr;
#ifdef GIFTJS_X86
  if (std::strcmp(name, "avx512") == 0) return &kAvx512;
  if (std::strcmp(name, "avx2") == 0) return &kAvx2;
#endif
  if (std::strcmp(name, "portable") == 0) return &kPortable;
  return nullptr;
}

const KernelInfo& selectKernel() {
  static const KernelInfo* chosen = [] {
    for (const char* name : {"avx512", "avx2"})
      if (const KernelInfo* k = kernelByName(name)) return k;
    return &kPortable;
  }();
  return *chosen;
}

}  // namespace giftjs

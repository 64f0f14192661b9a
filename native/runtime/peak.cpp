// Register-only FMA chains and a memory stream on every thread of the pool. The chains are
// independent (16 accumulators hide the FMA latency), loop-carried (acc = acc * a + b cannot be
// folded away) and summed at the end so that nothing is dead code; the stream reads a buffer far
// larger than the caches, the way decoding reads weights.
#include "peak.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "amx.h"
#include "cpu_features.h"
#include "thread_pool.h"

namespace giftjs {
namespace {

constexpr int kChains = 16;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Portable: float chains the compiler keeps in registers (no wider instructions assumed).
float fmaLoopPortable(std::size_t iterations) {
  float acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = 1e-3f * static_cast<float>(c);
  for (std::size_t i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * 0.999999f + 1e-7f;
  float s = 0;
  for (float v : acc) s += v;
  return s;
}

#if defined(__x86_64__)
#pragma GCC push_options
#pragma GCC target("avx512f")
float fmaLoopAvx512(std::size_t iterations) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(1e-3f * static_cast<float>(c));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (std::size_t i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  __m512 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm512_add_ps(s, acc[c]);
  return _mm512_reduce_add_ps(s);
}
#pragma GCC target("avx512f,avx512bf16")
float bf16LoopAvx512(std::size_t iterations) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(1e-3f * static_cast<float>(c));
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-4f), _mm512_set1_ps(1e-4f));
  for (std::size_t i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_dpbf16_ps(acc[c], a, b);
  __m512 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm512_add_ps(s, acc[c]);
  return _mm512_reduce_add_ps(s);
}
#pragma GCC target("amx-tile,amx-bf16")
// Four independent tile accumulators, each TDPBF16PS 16 x 16 outputs of 32 bf16 products (the GEMM's
// tile kernel runs the same four per step), over operand tiles loaded once.
float amxLoop(std::size_t iterations) {
  static const AmxTileConfig config;
  _tile_loadconfig(&config);
  alignas(64) uint16_t operand[16 * 32];
  for (uint16_t& v : operand) v = 0x3a83;  // bf16 ~1e-3: sums stay small however long the loop runs
  alignas(64) float out[16 * 16];
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, operand, 64);
  _tile_loadd(5, operand, 64);
  _tile_loadd(6, operand, 64);
  _tile_loadd(7, operand, 64);
  for (std::size_t i = 0; i < iterations; ++i) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  // (Tile numbers are immediates: one store per tile.)
  float s = 0;
  _tile_stored(0, out, 64);
  s += out[0];
  _tile_stored(1, out, 64);
  s += out[0];
  _tile_stored(2, out, 64);
  s += out[0];
  _tile_stored(3, out, 64);
  s += out[0];
  _tile_release();
  return s;
}
#pragma GCC target("avx2,fma")
float fmaLoopAvx2(std::size_t iterations) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(1e-3f * static_cast<float>(c));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (std::size_t i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  __m256 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_ps(s, acc[c]);
  float out[8];
  _mm256_storeu_ps(out, s);
  float t = 0;
  for (float v : out) t += v;
  return t;
}
#pragma GCC pop_options

bool cpuHas(const char* feature) {
  __builtin_cpu_init();
  if (std::strcmp(feature, "avx512bf16") == 0) return __builtin_cpu_supports("avx512bf16") != 0;
  if (std::strcmp(feature, "avx2") == 0) return __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("fma") != 0;
  return false;
}
#endif

// GFLOP/s of `loop` (flopsPerIteration per iteration, per thread) on every thread: the best of a few
// timings of about `slice` seconds each, after growing the iteration count to fill one.
template <typename Loop>
double timedGflops(Loop loop, double flopsPerIteration, double slice) {
  ThreadPool& pool = ThreadPool::instance();
  const std::size_t threads = static_cast<std::size_t>(pool.threads());
  std::vector<float> sink(threads);
  auto run = [&](std::size_t iterations) {
    const double t0 = now();
    pool.parallelFor(threads, [&](std::size_t t) { sink[t] = loop(iterations); });
    return now() - t0;
  };
  std::size_t iterations = 1 << 12;
  while (run(iterations) < slice / 4 && iterations < (std::size_t(1) << 40)) iterations *= 2;
  double best = 0;
  for (int r = 0; r < 5; ++r) best = std::max(best, flopsPerIteration * static_cast<double>(iterations * threads) / run(iterations) / 1e9);
  volatile float keep = 0;
  for (float v : sink) keep = keep + v;
  return best;
}

// GB/s reading `bytes` (float32 values summed by every thread over its own slice): the best of three.
// `firstTouchGBs` gets the rate at which the threads' first writes made the buffer's new pages (the
// kernel's page faults, and on a virtual machine its host's): what a load pays per byte it keeps.
double streamGBs(std::size_t bytes, double& firstTouchGBs) {
  ThreadPool& pool = ThreadPool::instance();
  const std::size_t threads = static_cast<std::size_t>(pool.threads());
  const std::size_t n = bytes / sizeof(float);
  std::unique_ptr<float[]> storage(new float[n]);  // not value-initialized: the timed writes touch it first
  float* const data = storage.get();
  const double touched = now();
  pool.parallelFor(threads, [&](std::size_t t) {  // each thread touches its own slice first (its pages)
    for (std::size_t i = n * t / threads; i < n * (t + 1) / threads; ++i) data[i] = 1.0f;
  });
  firstTouchGBs = static_cast<double>(n * sizeof(float)) / (now() - touched) / 1e9;
  std::vector<double> sums(threads);
  double best = 0;
  for (int r = 0; r < 3; ++r) {
    const double t0 = now();
    pool.parallelFor(threads, [&](std::size_t t) {
      float acc[kChains] = {};
      const std::size_t from = n * t / threads, to = n * (t + 1) / threads;
      std::size_t i = from;
      for (; i + kChains <= to; i += kChains)
        for (int c = 0; c < kChains; ++c) acc[c] += data[i + c];
      for (; i < to; ++i) acc[0] += data[i];
      double s = 0;
      for (float v : acc) s += v;
      sums[t] = s;
    });
    best = std::max(best, static_cast<double>(n * sizeof(float)) / (now() - t0) / 1e9);
  }
  volatile double keep = 0;
  for (double v : sums) keep = keep + v;
  return best;
}

}  // namespace

MachinePeak measurePeak(double seconds, std::size_t streamBytes) {
  MachinePeak p;
  p.threads = ThreadPool::instance().threads();
  // Each loop is timed in two rounds, alternating, and the best kept: on a virtual machine one
  // round now and then ran at half the rate (2 threads measuring as 1), which made every ratio
  // printed against the peak look twice as good.
  const double slice = std::max(0.01, seconds / 16);
  // Flops per iteration: kChains FMAs of (lanes) x 2; a bf16 dot product is 2 pairs per float32 lane.
  for (int round = 0; round < 2; ++round) {
#if defined(__x86_64__)
    if (cpuHasAvx512()) {
      p.isa = "avx512";
      p.f32Gflops = std::max(p.f32Gflops, timedGflops(fmaLoopAvx512, kChains * 16 * 2.0, slice));
      if (cpuHas("avx512bf16")) p.bf16Gflops = std::max(p.bf16Gflops, timedGflops(bf16LoopAvx512, kChains * 16 * 4.0, slice));
      // Four tiles of 16 x 16 outputs, 32 products each, two flops a product.
      if (amxUsable()) p.amxGflops = std::max(p.amxGflops, timedGflops(amxLoop, 4 * 16 * 16 * 32 * 2.0, slice));
      continue;
    }
    if (cpuHas("avx2")) {
      p.isa = "avx2";
      p.f32Gflops = std::max(p.f32Gflops, timedGflops(fmaLoopAvx2, kChains * 8 * 2.0, slice));
      continue;
    }
#endif
    p.isa = "portable";
    p.f32Gflops = std::max(p.f32Gflops, timedGflops(fmaLoopPortable, kChains * 2.0, slice));
  }
  p.streamGBs = streamGBs(streamBytes, p.firstTouchGBs);
  return p;
}

double measureStream(std::size_t streamBytes) {
  double firstTouchGBs = 0;
  return streamGBs(streamBytes, firstTouchGBs);
}

}  // namespace giftjs

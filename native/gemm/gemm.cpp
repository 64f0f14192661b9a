// Cache-blocked GEMM in the style of BLIS / GotoBLAS:
//   for each NC-wide panel of B          (jc)
//     for each KC-deep slice of K         (pc)   pack B[KC x NC] into NR-wide slivers (L3/L2)
//       for each MC-tall block of A       (ic)   pack A[MC x KC] into MR-tall slivers (L2)
//         for each NR sliver, MR sliver   (jr, ir) micro-kernel over KC        (L1/L2 + registers)
// Packing makes the micro-kernel's loads contiguous and aligned whatever the transposes and
// leading dimensions are, and zero-pads edge slivers so the kernel never branches.
#include "gemm.h"
#include "int8_gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "../runtime/cpu_features.h"
#include "../runtime/thread_pool.h"
#include "pack.h"
#include "scratch.h"
#include "weight_rows.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace giftjs {

namespace {

#ifndef GIFTJS_GEMM_KC
#define GIFTJS_GEMM_KC 576
#define GIFTJS_GEMM_KC_PAIRS 640
#define GIFTJS_GEMM_MC 168
#define GIFTJS_GEMM_NC 3072
#endif
// Depth of a packed slice. Every slice past the first re-reads and re-writes C, which costs most
// where C is large and K small: the tied LM head (C 1024 x 49152, K 576) ran at 0.85x the rate of
// the other GEMMs with KC 256 (three slices). Deeper slices let the NR x KC B sliver spill from
// L1 to L2, which the kernel tolerates better: on a 2-core Zen 5, 2 threads, KC 576 measured
// 173 -> 204 GFLOP/s on the LM head and 193 -> 210 on X W^T (1024 x 1536 x 576).
constexpr std::size_t KC = GIFTJS_GEMM_KC;
// The bf16 pair kernel holds two k per 32-bit slot and does twice the arithmetic per load, so C
// traffic costs it twice the share: KC 256 -> 640 measured 294 -> 390 GFLOP/s on the LM head.
constexpr std::size_t KC_PAIRS = GIFTJS_GEMM_KC_PAIRS;
constexpr std::size_t MC = GIFTJS_GEMM_MC;  // rows of a packed A block (multiple of 14, 6 and 4), in L2
constexpr std::size_t NC = GIFTJS_GEMM_NC;  // columns of a packed B panel: KC x NC floats in L3

// C = beta * C over an m x n block (beta == 0 writes zeros without reading C, so NaNs in an
// uninitialised output never leak in).
void scaleC(const GemmProblem& p) {
  for (std::size_t i = 0; i < p.M; ++i) {
    float* row = p.C + i * p.ldc;
    if (p.beta == 0.0f)
      std::memset(row, 0, p.N * sizeof(float));
    else if (p.beta != 1.0f)
      for (std::size_t j = 0; j < p.N; ++j) row[j] *= p.beta;
  }
}

std::size_t depthLimit(const KernelInfo& ki) { return ki.pairPacked ? KC_PAIRS : KC; }
// Rows of a packed A block: MC rounded down to whole slivers (168 = 12 x 14; 160 = 5 x 32 for the AMX
// kernel, whose 168th row would otherwise start an 8-row sliver computed as a 32-row tile).
std::size_t blockRows(const KernelInfo& ki) { return MC / ki.mr * ki.mr; }
// Slots per row (A) or column (B) of a packed sliver that a slice of kc values fills.
std::size_t slotsFor(const KernelInfo& ki, std::size_t kc) { return ki.pairPacked ? (kc + 1) / 2 : kc; }
// Equal K slices (1536 = 3 x 512, not 576 + 576 + 384): a thin last slice would pay a full pass of
// C loads and stores for little arithmetic. Every path slices K the same way, so one thread and
// many add the same partial sums in the same order.
// A quantized B's slices start on a multiple of 32, its groups' width, so that they can be unpacked
// a group at a time (packBPairs); the slices stay within the depth limit, a multiple of 32.
std::size_t sliceStep(const KernelInfo& ki, const GemmProblem& p) {
  const std::size_t slices = (p.K + depthLimit(ki) - 1) / depthLimit(ki);
  const std::size_t step = (p.K + slices - 1) / slices;
  return p.Bq && p.Bq->bits != 16 ? (step + 31) / 32 * 32 : step;
}

// Panels packed once for all threads (gemm below): A's rows or B's columns of one K slice, in
// the layout packA / packB write, sliver i / MR (or j / NR) at (i / MR) * slots * MR.
struct SharedPanels {
  const float* a = nullptr;
  const float* b = nullptr;
  // B packed ahead over more depth than one slice (gemmSerialPackedB): its slivers bStride floats
  // apart, a slice from depth pc read from slot slotsFor(pc) of each. 0: b holds exactly one slice.
  std::size_t bStride = 0;
};

// Values [k0, k0 + kc) of p's K as a problem of its own: a slice after the first adds to what the
// slices before it wrote (beta 1).
GemmProblem kSliceOf(const GemmProblem& p, std::size_t k0, std::size_t kc) {
  GemmProblem q = p;
  q.K = kc;
  q.A = p.transA ? p.A + k0 * p.lda : p.A + k0;
  const std::size_t offB = p.transB ? k0 : k0 * p.ldb;
  if (p.B) q.B = p.B + offB;
  if (p.Bbf16) q.Bbf16 = p.Bbf16 + offB;
  if (p.Bq) (p.transB ? q.bqCol0 : q.bqRow0) += k0;
  if (k0 > 0) q.beta = 1.0f;
  return q;
}

// Columns [j0, j0 + n) of C (and of op(B)) as a problem of its own.
GemmProblem columnsOf(const GemmProblem& p, std::size_t j0, std::size_t n) {
  GemmProblem q = p;
  q.N = n;
  const std::size_t off = p.transB ? j0 * p.ldb : j0;
  if (p.B) q.B = p.B + off;
  if (p.Bbf16) q.Bbf16 = p.Bbf16 + off;
  if (p.Bq) (p.transB ? q.bqRow0 : q.bqCol0) += j0;
  q.C = p.C + j0;
  return q;
}

void packOperand(const GemmProblem& p, const KernelInfo& ki, bool isA, std::size_t from, std::size_t count,
                 std::size_t k0, std::size_t kc, float* dst) {
  if (isA) {
    if (ki.rowPackedA) packARowPairs(p, from, count, k0, kc, ki.mr, dst);
    else if (ki.pairPacked) packAPairs(p, from, count, k0, kc, ki.mr, dst);
    else packA(p, from, count, k0, kc, ki.mr, dst);
  } else {
    if (ki.pairPacked) packBPairs(p, k0, kc, from, count, ki.nr, dst);
    else packB(p, k0, kc, from, count, ki.nr, dst);
  }
}

void gemmBlocks(const GemmProblem& p, const KernelInfo& ki, SharedPanels shared) {
  if (p.M == 0 || p.N == 0) return;
  if (p.K == 0 || p.alpha == 0.0f) {
    scaleC(p);
    return;
  }
  const int MR = ki.mr, NR = ki.nr;
  const std::size_t blockM = blockRows(ki);
  thread_local Buffer bufA, bufB;
  thread_local std::size_t capA = 0, capB = 0;
  float* packedA = shared.a ? nullptr : scratch(bufA, capA, blockM * slotsFor(ki, depthLimit(ki)) + 64);
  float* packedB = shared.b ? nullptr : scratch(bufB, capB, slotsFor(ki, depthLimit(ki)) * (NC + NR));
  alignas(64) float edge[32 * 32];

  // When beta is neither 0 nor 1 the first K slice cannot fold it into the kernel's store,
  // so scale C once up front and accumulate from there.
  const bool prescale = p.beta != 0.0f && p.beta != 1.0f;
  if (prescale) scaleC(p);

  const std::size_t kStep = sliceStep(ki, p);
  // With one block of A rows and one K slice, a packed B panel is used once, so it is packed a
  // sliver at a time and read back from L1/L2 while it is still there (a 3072-wide panel went to
  // L3 and back first). A is then packed once, before the slivers, unless it was shared.
  // At 128 rows (a batch-1 x 128 step of a 1B model, bf16) 5-10% faster per GEMM.
  const bool smallPanels = p.M <= blockM && p.K <= kStep && !shared.b;
  if (smallPanels && !shared.a) {
    packOperand(p, ki, true, 0, p.M, 0, p.K, packedA);
    shared.a = packedA;
  }
  // (Some B are pair-packed several slivers at a time: pack.h.)
  const std::size_t together = ki.pairPacked ? pairSliversPackedTogether(p, NR) : 1;
  const std::size_t nStep = smallPanels ? together * NR : NC;
  // (Shared panels hold one K slice: gemm hands over one slice at a time, so then kStep == p.K.)
  for (std::size_t jc = 0; jc < p.N; jc += nStep) {
    const std::size_t nc = std::min(nStep, p.N - jc);
    for (std::size_t pc = 0; pc < p.K; pc += kStep) {
      const std::size_t kc = std::min(kStep, p.K - pc), slots = slotsFor(ki, kc);
      const bool accumulate = pc > 0 || p.beta != 0.0f;
      // Floats between B's slivers: one slice's slots each, unless B was packed ahead deeper.
      const std::size_t bSliverStride = shared.b && shared.bStride ? shared.bStride : slots * NR;
      const float* bPanel = shared.b ? shared.b + (jc / NR) * bSliverStride + (shared.bStride ? slotsFor(ki, pc) * NR : 0) : packedB;
      if (!shared.b) packOperand(p, ki, false, jc, nc, pc, kc, packedB);
      for (std::size_t ic = 0; ic < p.M; ic += blockM) {
        const std::size_t mc = std::min(blockM, p.M - ic);
        const float* aBlock = shared.a ? shared.a + (ic / MR) * slots * MR : packedA;
        if (!shared.a) packOperand(p, ki, true, ic, mc, pc, kc, packedA);
        for (std::size_t jr = 0; jr < nc; jr += NR) {
          const std::size_t n = std::min<std::size_t>(NR, nc - jr);
          const float* bSliver = bPanel + (jr / NR) * bSliverStride;
          for (std::size_t ir = 0; ir < mc; ir += MR) {
            const std::size_t m = std::min<std::size_t>(MR, mc - ir);
            const float* aSliver = aBlock + (ir / MR) * slots * MR;
            float* c = p.C + (ic + ir) * p.ldc + jc + jr;
            if (m == static_cast<std::size_t>(MR) && n == static_cast<std::size_t>(NR)) {
              ki.kernel(kc, aSliver, bSliver, c, p.ldc, p.alpha, accumulate);
            } else if (n == static_cast<std::size_t>(NR) && ki.shortRows) {
              ki.shortRows[m](kc, aSliver, bSliver, c, p.ldc, p.alpha, accumulate);
            } else {
              // Edge tile: compute the full tile into scratch, then add the valid part.
              ki.kernel(kc, aSliver, bSliver, edge, NR, p.alpha, false);
              for (std::size_t i = 0; i < m; ++i)
                for (std::size_t j = 0; j < n; ++j)
                  c[i * p.ldc + j] = edge[i * NR + j] + (accumulate ? c[i * p.ldc + j] : 0.0f);
            }
          }
        }
      }
    }
  }
}

}  // namespace

void gemmSerial(const GemmProblem& p, const KernelInfo& ki) { gemmBlocks(p, ki, {}); }

std::size_t packedBFloats(const KernelInfo& ki, std::size_t depth, std::size_t columns) {
  return (columns + ki.nr - 1) / ki.nr * ki.nr * slotsFor(ki, depth);
}

PackedB packBAhead(const GemmProblem& p, const KernelInfo& ki, float* dst) {
  PackedB packed;
  packed.kernel = &ki;
  packed.depth = p.K;
  packed.columns = p.N;
  packed.sliverStride = slotsFor(ki, p.K) * ki.nr;
  packed.data = dst;
  if (p.K > 0 && p.N > 0) packOperand(p, ki, false, 0, p.N, 0, p.K, dst);
  return packed;
}

void gemmSerialPackedB(const GemmProblem& p, const KernelInfo& ki, const PackedB& packed, std::size_t k0, std::size_t j0) {
  // The packed slivers serve p when p's columns start on a sliver and p's slices (those gemmSerial
  // would pack, so the sums keep their order and bits) lie inside the packed depth. A pair-packed
  // slot holds k = 2q and 2q + 1: a slice must start on a pair, and end on one or at the packed
  // depth (where packing zeroed the pair's second half), else the kernel would multiply A's zero
  // padding by the next key's value, and 0 * inf is NaN.
  bool fits = packed.kernel == &ki && packed.data && j0 % ki.nr == 0 && j0 + p.N <= packed.columns && k0 + p.K <= packed.depth;
  if (fits && ki.pairPacked) {
    const std::size_t kStep = sliceStep(ki, p);
    for (std::size_t pc = 0; pc < p.K && fits; pc += kStep) {
      const std::size_t start = k0 + pc, end = k0 + std::min(p.K, pc + kStep);
      fits = start % 2 == 0 && (end % 2 == 0 || end == packed.depth);
    }
  }
  if (!fits) return gemmSerial(p, ki);
  SharedPanels shared;
  shared.b = packed.data + (j0 / ki.nr) * packed.sliverStride + slotsFor(ki, k0) * ki.nr;
  shared.bStride = packed.sliverStride;
  gemmBlocks(p, ki, shared);
}

namespace {

// A few rows of activations against a Linear weight (generation: M = batch, one token each).
// Packing would copy the whole weight for a handful of dot products, so instead each output is a
// dot product of an A row with a B row, read once, straight from the weight's storage.
#if defined(__x86_64__)
__attribute__((target("avx512f,fma"))) float dot512(const float* a, const float* b, std::size_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

// How far ahead of its loads a decoding dot product asks for a weight row's lines. The hardware
// prefetchers alone left the 1B shape's bf16 down projection (K 8192) at 42-43 GB/s where the stream
// ran at 51-62; asking 2 KB ahead took it to 55-56, and the other decode shapes up to 10% (bf16
// products, in a standalone harness of the same loops: from 37-43 to 42-53; 512 B ahead helped less,
// 4 KB no more). The 1B decode over float32 rows went from 43-48 to 47-51 GB/s. Past a row's end it
// asks for the next row's start, which the same thread reads next; a prefetch never faults, past
// the end of B too.
constexpr std::size_t kRowAheadBytes = 2048;

inline void prefetchRowAhead(const void* at) { _mm_prefetch(static_cast<const char*>(at) + kRowAheadBytes, _MM_HINT_T0); }

// dot512 of one A row with four B rows at once: the same arithmetic per row (so the same bits), with
// four rows' loads in flight, which a memory-bound GEMV needs, and one loop's overhead for four.
__attribute__((target("avx512f,fma"))) void dot512x4(const float* a, const float* const b[4], std::size_t n, float out[4]) {
  __m512 acc0[4], acc1[4];
  for (int r = 0; r < 4; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 x0 = _mm512_loadu_ps(a + i), x1 = _mm512_loadu_ps(a + i + 16);
    for (int r = 0; r < 4; ++r) {
      prefetchRowAhead(b[r] + i);  // the two lines this step's loads begin, 2 KB on
      prefetchRowAhead(b[r] + i + 16);
      acc0[r] = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b[r] + i), acc0[r]);
      acc1[r] = _mm512_fmadd_ps(x1, _mm512_loadu_ps(b[r] + i + 16), acc1[r]);
    }
  }
  for (; i + 16 <= n; i += 16) {
    const __m512 x0 = _mm512_loadu_ps(a + i);
    for (int r = 0; r < 4; ++r) acc0[r] = _mm512_fmadd_ps(x0, _mm512_loadu_ps(b[r] + i), acc0[r]);
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 x = _mm512_maskz_loadu_ps(m, a + i);
    for (int r = 0; r < 4; ++r) acc1[r] = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, b[r] + i), acc1[r]);
  }
  for (int r = 0; r < 4; ++r) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
}

// A float32 or bf16 weight row as dotTile512 reads it, where it is stored (a quantized row's values
// are made in registers by QuantizedRowValues, quantized.h, which reads the same way): 16 or 32
// values from i as float32 (a bf16 value widened exactly), one value, and where value i's bytes are.
#pragma GCC push_options
#pragma GCC target("avx512f,fma,f16c")  // (f16c: QuantizedRowValues's, inlined here)
struct FloatRow {
  static constexpr std::size_t kValueBytes = 4;
  const float* row;
  const float* at(std::size_t i) const { return row + i; }
  __m512 load16(std::size_t i) const { return _mm512_loadu_ps(row + i); }
  void load32(std::size_t i, __m512& lo, __m512& hi) const {
    lo = load16(i);
    hi = load16(i + 16);
  }
  float value(std::size_t i) const { return row[i]; }
};
struct Bf16Row {
  static constexpr std::size_t kValueBytes = 2;
  const uint16_t* row;
  const uint16_t* at(std::size_t i) const { return row + i; }
  __m512 load16(std::size_t i) const {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i))), 16));
  }
  void load32(std::size_t i, __m512& lo, __m512& hi) const {
    lo = load16(i);
    hi = load16(i + 16);
  }
  float value(std::size_t i) const { return widenBf16(row[i]); }
};

// RA float32 A rows against R W rows (Row: FloatRow, Bf16Row or QuantizedRowValues), each W row's
// values loaded once per step for all A rows: out[m][r] = a[m] . b[r]. Each dot product's products
// and sums are the same whatever RA, R and Row (one accumulator over 16-value steps in column order,
// the tail added in order; every Row's values are the same floats as the row dequantized to float32),
// so a row's result is the same bits whether it is decoded alone or in a batch, or is one row of a
// short prompt's prefill, and a bf16 or quantized weight gives the bits of its float32 widening.
// Each W line is asked for kRowAheadBytes ahead of its first load.
template <typename Row, int RA, int R>
void dotTile512(const float* const a[RA], const Row b[R], std::size_t n, float out[RA][R]) {
  constexpr std::size_t kLineValues = 64 / Row::kValueBytes;
  __m512 acc[RA][R];
  for (int m = 0; m < RA; ++m)
    for (int r = 0; r < R; ++r) acc[m][r] = _mm512_setzero_ps();
  const auto multiply = [&](const __m512 w[R], std::size_t i) {
    for (int m = 0; m < RA; ++m) {
      const __m512 x = _mm512_loadu_ps(a[m] + i);
      for (int r = 0; r < R; ++r) acc[m][r] = _mm512_fmadd_ps(x, w[r], acc[m][r]);
    }
  };
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 lo[R], hi[R];
    for (int r = 0; r < R; ++r) {
      if (i % kLineValues == 0) prefetchRowAhead(b[r].at(i));
      if (kLineValues == 16) prefetchRowAhead(b[r].at(i + 16));
      b[r].load32(i, lo[r], hi[r]);
    }
    multiply(lo, i);
    multiply(hi, i + 16);
  }
  if (i + 16 <= n) {
    __m512 w[R];
    for (int r = 0; r < R; ++r) w[r] = b[r].load16(i);
    multiply(w, i);
    i += 16;
  }
  for (int m = 0; m < RA; ++m)
    for (int r = 0; r < R; ++r) {
      float s = _mm512_reduce_add_ps(acc[m][r]);
      // (An explicit fused multiply-add: left to -ffp-contract, GCC fused it for one Row and not another.)
      for (std::size_t k = i; k < n; ++k) s = __builtin_fmaf(a[m][k], b[r].value(k), s);
      out[m][r] = s;
    }
}
#pragma GCC pop_options

template <int R>
void dot512bf16Rows(const float* a, const uint16_t* const b[R], std::size_t n, float out[R]) {
  const float* const rows[1] = {a};
  Bf16Row w[R];
  for (int r = 0; r < R; ++r) w[r] = Bf16Row{b[r]};
  float tile[1][R];
  dotTile512<Bf16Row, 1, R>(rows, w, n, tile);
  for (int r = 0; r < R; ++r) out[r] = tile[0][r];
}

// A short prompt's rows (M <= fewRowsLimit) against W^T: W's rows four at a time, read from memory
// once for all of A's rows, which take them four at a time from the cache. rowAt(r) is W's row j + r
// (the output column j + r) as dotTile512 reads it.
template <int RA, typename RowAt>
void fewRowsBlock(const GemmProblem& p, const RowAt& rowAt, std::size_t i, std::size_t j, std::size_t rowsB) {
  using Row = decltype(rowAt(0));
  const float* a[RA];
  for (int m = 0; m < RA; ++m) a[m] = p.A + (i + m) * p.lda;
  if (rowsB == 4) {
    const Row b[4] = {rowAt(0), rowAt(1), rowAt(2), rowAt(3)};
    float out[RA][4];
    dotTile512<Row, RA, 4>(a, b, p.K, out);
    for (int m = 0; m < RA; ++m)
      for (int r = 0; r < 4; ++r) storeScaled(p, i + m, j + r, out[m][r]);
    return;
  }
  for (std::size_t r = 0; r < rowsB; ++r) {
    const Row b[1] = {rowAt(r)};
    float out[RA][1];
    dotTile512<Row, RA, 1>(a, b, p.K, out);
    for (int m = 0; m < RA; ++m) storeScaled(p, i + m, j + r, out[m][0]);
  }
}

template <typename RowAt>
void fewRowsBlocks(const GemmProblem& p, const RowAt& rowAt, std::size_t j, std::size_t rowsB) {
  std::size_t i = 0;
  for (; i + 4 <= p.M; i += 4) fewRowsBlock<4>(p, rowAt, i, j, rowsB);
  switch (p.M - i) {
    case 3: fewRowsBlock<3>(p, rowAt, i, j, rowsB); break;
    case 2: fewRowsBlock<2>(p, rowAt, i, j, rowsB); break;
    case 1: fewRowsBlock<1>(p, rowAt, i, j, rowsB); break;
    default: break;
  }
}

// Outputs [j0, j1) of a short prompt against a quantized W^T of the kind whose values are made in registers.
template <RowValuesKind Kind>
void fewQuantizedRowsRange(const GemmProblem& p, std::size_t j0, std::size_t j1) {
  for (std::size_t j = j0; j < j1; j += 4) {
    const auto rowAt = [&](std::size_t r) { return QuantizedRowValues<Kind>(*p.Bq, p.bqRow0 + j + r, p.bqCol0); };
    fewRowsBlocks(p, rowAt, j, std::min<std::size_t>(4, j1 - j));
  }
}

// Outputs [j0, j1) of a short prompt against W^T: float32 or bf16 rows read where they are, a quantized
// weight's values made in registers where its format allows (rowValuesKindFor); otherwise (a Q4_0 row
// not in nibble order, Q8_0 read from inside a block) its four rows are dequantized into float32 first.
void fewRowsRange(const GemmProblem& p, std::size_t j0, std::size_t j1) {
  RowValuesKind kind;
  if (p.Bq && rowValuesKindFor(*p.Bq, p.bqCol0, kind)) {
    switch (kind) {
      case RowValuesKind::Int8Blocks: return fewQuantizedRowsRange<RowValuesKind::Int8Blocks>(p, j0, j1);
      case RowValuesKind::Int8Row: return fewQuantizedRowsRange<RowValuesKind::Int8Row>(p, j0, j1);
      case RowValuesKind::Halves: return fewQuantizedRowsRange<RowValuesKind::Halves>(p, j0, j1);
    }
  }
  thread_local std::vector<float> dequantized;
  if (p.Bq) dequantized.resize(4 * p.K);
  for (std::size_t j = j0; j < j1; j += 4) {
    const std::size_t rowsB = std::min<std::size_t>(4, j1 - j);
    if (p.Bbf16) {
      fewRowsBlocks(p, [&](std::size_t r) { return Bf16Row{p.Bbf16 + (j + r) * p.ldb}; }, j, rowsB);
    } else if (p.Bq) {
      for (std::size_t r = 0; r < rowsB; ++r) dequantizeRow(*p.Bq, p.bqRow0 + j + r, p.bqCol0, p.K, dequantized.data() + r * p.K);
      fewRowsBlocks(p, [&](std::size_t r) { return FloatRow{dequantized.data() + r * p.K}; }, j, rowsB);
    } else {
      fewRowsBlocks(p, [&](std::size_t r) { return FloatRow{p.B + (j + r) * p.ldb}; }, j, rowsB);
    }
  }
}

float dot512bf16(const float* a, const uint16_t* b, std::size_t n) {
  const uint16_t* const row[1] = {b};
  float s[1];
  dot512bf16Rows<1>(a, row, n, s);
  return s[0];
}
#endif

float dotRow(const float* a, const GemmProblem& p, std::size_t row, bool vector) {
  if (p.Bq) {
    // (gemvTransB runs on whole rows: bqCol0 == 0 and K == cols.)
    return dotQuantizedRow(a, *p.Bq, p.bqRow0 + row, vector);
  }
  const std::size_t off = row * p.ldb;
#if defined(__x86_64__)
  if (vector && cpuHasAvx512()) return p.Bbf16 ? dot512bf16(a, p.Bbf16 + off, p.K) : dot512(a, p.B + off, p.K);
#endif
  float s = 0.0f;
  for (std::size_t k = 0; k < p.K; ++k) s += a[k] * (p.Bbf16 ? widenBf16(p.Bbf16[off + k]) : p.B[off + k]);
  return s;
}

bool gInt8Activations = false;
// The most rows of A that any W^T multiplies a few rows at a time instead of packing.
constexpr std::size_t kFewRowsTile = 32;

// The most rows of A that this W^T multiplies a few rows at a time (gemm below): past them, packing W
// once for all rows costs less than making W's values again for every four of them. Medians of a
// prompt's prefill over the 1B shape (2 threads, 2026-12-05, builds alternating except Q4_0 at 32),
// packed against in tiles: Q4_0 at 24 rows 90 -> 129 tokens/s, at 32 92 -> 143, at 48 and 64 tied;
// int8 per channel at 24 rows 74 -> 109, at 32 120 -> 143, at 48 138 -> 122; bf16 at 24 rows 87 ->
// 105, at 32 94 -> 102, at 48 112 against 102-132. Float16 and Q8_0 rows, made in registers as int8's
// are, are taken to behave as int8's. A float32 W, which packing only copies, keeps the 16 rows
// measured before.
std::size_t fewRowsLimit(const GemmProblem& p) { return p.Bq || p.Bbf16 ? kFewRowsTile : 16; }

// The least bytes of W a decoding range reads (forOutputRanges): each range starts its row streams
// anew, cold to the hardware prefetchers. A SmolLM2-135M token's 211 float32 GEMVs (0.4-3.5 MB each)
// read in 16 ranges each at 2 threads; in ranges of at least 2 MB (two for all but the LM head),
// decoding ran 1.03-1.06x (medians of 30 alternations in one process, blocks of 8 tokens, two runs each,
// 2-core Zen 4, 2026-12-06), one range a thread 1.05-1.07x. The Llama-3.2-1B shape's 16 MB int8
// matrices, at one range a thread, ran 0.94x (a stalled thread kept the other waiting, as below); at
// 2 MB, 1.00-1.03x over int8 codes and 1.02x over bf16, within the noise of these runs.
constexpr std::size_t kLeastRangeBytes = 2u << 20;

// The bytes of W's rows a few-rows product (B transposed) reads.
std::size_t weightBytesRead(const GemmProblem& p) {
  if (p.Bq) return p.N * p.Bq->rowBytes();
  return p.N * p.K * (p.Bbf16 ? sizeof(uint16_t) : sizeof(float));
}

// The few-rows products' outputs (B's rows j) split into ranges, `ranges(j0, j1)` over the thread pool:
// up to eight ranges per thread, handed out as threads come free (on a shared virtual machine one thread
// now and then stalls, and with one range each the other waited for it), and for decoding (M <= 4) no
// more than ranges of kLeastRangeBytes allow, one a thread at least; one range for a small product.
template <typename Ranges>
void forOutputRanges(const GemmProblem& p, Ranges ranges) {
  ThreadPool& pool = ThreadPool::instance();
  const std::size_t threads = static_cast<std::size_t>(pool.threads());
  std::size_t most = 8 * threads;
  if (p.M <= 4) most = std::min(most, std::max(threads, weightBytesRead(p) / kLeastRangeBytes));
  const std::size_t chunks = p.N * p.K < 65536 ? 1 : std::min(p.N, most);
  pool.parallelFor(chunks, [&](std::size_t c) { ranges(p.N * c / chunks, p.N * (c + 1) / chunks); });
}

// C[i, j] = alpha * A[i, :] . B[j, :] + beta * C[i, j] for M <= 4 (on AVX-512, M <= fewRowsLimit(p)),
// A not transposed, B transposed.
// Under the portable kernel (setGemmKernel("portable"): tests, and what a CPU without AVX-512 runs)
// every dot product takes its portable loop too.
void gemvTransB(const GemmProblem& p, const KernelInfo& ki) {
  const bool vector = std::strcmp(ki.name, "portable") != 0;
  // With int8 activations, A's rows rounded once (a row that cannot be takes the float product).
  Int8Activations int8[4];
  bool rounded[4] = {false, false, false, false};
  if (gInt8Activations && p.M <= 4 && p.Bq && int8ActivationsFit(*p.Bq) && p.bqCol0 == 0 && p.K == p.Bq->cols) {
    for (std::size_t i = 0; i < p.M; ++i) rounded[i] = roundToInt8(p.A + i * p.lda, p.K, int8[i]);
  }
  // Else, against Q4_0 rows on AVX-512, A's rows put in nibble order once (the order their kernels read).
  std::vector<float> ordered[kFewRowsTile];
  const float* orderedRows[kFewRowsTile];
  bool inNibbleOrder[kFewRowsTile] = {};
  if (vector && p.M <= kFewRowsTile && p.Bq && nibbleOrderFits(*p.Bq) && p.bqCol0 == 0 && p.K == p.Bq->cols) {
    for (std::size_t i = 0; i < p.M; ++i) {
      if (i < 4 && rounded[i]) continue;
      orderForNibbles(p.A + i * p.lda, p.K, ordered[i]);
      orderedRows[i] = ordered[i].data();
      inNibbleOrder[i] = true;
    }
  }
  const auto dot = [&](std::size_t i, std::size_t j) {
    if (i < 4 && rounded[i]) return dotInt8Activations(int8[i], *p.Bq, p.bqRow0 + j, vector);
    if (i < kFewRowsTile && inNibbleOrder[i]) return dotNibbleOrdered(ordered[i].data(), *p.Bq, p.bqRow0 + j);
    return dotRow(p.A + i * p.lda, p, j, vector);
  };
#if defined(__x86_64__)
  const bool fourRows = vector && cpuHasAvx512() && !p.Bq && !p.Bbf16;  // float32 weights: four rows at a time
#else
  const bool fourRows = false;
#endif
  forOutputRanges(p, [&](std::size_t j0, std::size_t j1) {
    std::size_t j = j0;
    if (p.M == 1 && p.Bq) {
      // One row against a quantized or float16 W (decoding): the range's rows at once, which the row
      // kernels read two or four at a time, a half or a quarter of the range apart; with int8
      // activations when the row was rounded, else float products. (In runs of 64 rows, a code stream
      // started anew every 16-32 rows, cold to the hardware prefetchers: GEMVs from memory at 2
      // threads, medians of six alternations, took 8192 x 2048 in Q4_0 281 us where this takes 237, in
      // int8 per channel 423 where this takes 383; 2048 x 8192 gained 0-5%.)
      thread_local std::vector<float> dots;
      dots.resize(j1 - j0);
      if (rounded[0]) dotInt8ActivationsRows(int8[0], *p.Bq, p.bqRow0 + j0, j1 - j0, dots.data(), vector);
      else if (inNibbleOrder[0]) dotNibbleOrderedRows(ordered[0].data(), *p.Bq, p.bqRow0 + j0, j1 - j0, dots.data());
      else dotQuantizedRows(p.A, *p.Bq, p.bqRow0 + j0, j1 - j0, dots.data(), vector);
      for (std::size_t r = 0; r < j1 - j0; ++r) storeScaled(p, 0, j0 + r, dots[r]);
      return;
    }
#if defined(__x86_64__)
    if (p.M == 1 && p.Bbf16 && vector && cpuHasAvx512()) {
      j = rowsHalfApart(j0, j1, [&](std::size_t j, std::size_t k) {
        const uint16_t* const pair[2] = {p.Bbf16 + j * p.ldb, p.Bbf16 + k * p.ldb};
        float two[2];
        dot512bf16Rows<2>(p.A, pair, p.K, two);
        storeScaled(p, 0, j, two[0]);
        storeScaled(p, 0, k, two[1]);
      });
    }
    // Rows past four (a short prompt) against Q4_0 rows: four by four, W's values made in registers.
    // (Only rows of M <= 4 are ever rounded to int8, so here row 0 in nibble order means every row is.)
    if (p.M > 4 && inNibbleOrder[0]) {
      float dots[kFewRowsTile * 64];
      for (; j < j1; j += 64) {
        const std::size_t n = std::min<std::size_t>(64, j1 - j);
        dotNibbleOrderedTile(orderedRows, p.M, *p.Bq, p.bqRow0 + j, n, dots, 64);
        for (std::size_t i = 0; i < p.M; ++i)
          for (std::size_t r = 0; r < n; ++r) storeScaled(p, i, j + r, dots[i * 64 + r]);
      }
      return;
    }
    // Rows past four (a short prompt), and a bf16 weight's two to four rows.
    if (vector && cpuHasAvx512() && (p.M > 4 || (p.M >= 2 && p.Bbf16))) {
      fewRowsRange(p, j, j1);
      return;
    }
    if (fourRows) {
      // Four rows a quarter of the range apart, each of the four streams running on into its next row,
      // which its loads' prefetches have asked for already. (Four adjacent rows started four streams
      // anew every four rows: SmolLM2-135M's decoding GEMVs read 25.3-25.9 GB/s at two threads.)
      j = rowsQuarterApart(j0, j1, [&](std::size_t j, std::size_t quarter) {
        const float* const rows[4] = {p.B + j * p.ldb, p.B + (j + quarter) * p.ldb, p.B + (j + 2 * quarter) * p.ldb, p.B + (j + 3 * quarter) * p.ldb};
        for (std::size_t i = 0; i < p.M; ++i) {
          float dots[4];
          dot512x4(p.A + i * p.lda, rows, p.K, dots);
          for (int r = 0; r < 4; ++r) storeScaled(p, i, j + r * quarter, dots[r]);
        }
      });
    }
#endif
    for (; j < j1; ++j) {
      for (std::size_t i = 0; i < p.M; ++i) storeScaled(p, i, j, dot(i, j));
    }
  });
}

#if defined(__x86_64__)
// One bf16 A row (as bits) against R bf16 B rows, on the bf16 dot products: 32 values per
// vdpbf16ps, the tail through masked loads (zeros past K add nothing). A's loads serve all R rows;
// each row's products and sums are the same whatever R, so its result is the same bits.
template <int R>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) void dotBf16Rows(const uint16_t* a, const uint16_t* const b[R], std::size_t n, float out[R]) {
  __m512 acc0[R], acc1[R];
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512bh x0 = (__m512bh)_mm512_loadu_si512(a + i), x1 = (__m512bh)_mm512_loadu_si512(a + i + 32);
    for (int r = 0; r < R; ++r) {
      prefetchRowAhead(b[r] + i);
      prefetchRowAhead(b[r] + i + 32);
      acc0[r] = _mm512_dpbf16_ps(acc0[r], x0, (__m512bh)_mm512_loadu_si512(b[r] + i));
      acc1[r] = _mm512_dpbf16_ps(acc1[r], x1, (__m512bh)_mm512_loadu_si512(b[r] + i + 32));
    }
  }
  for (; i < n; i += 32) {
    const __mmask32 m = n - i >= 32 ? ~__mmask32(0) : static_cast<__mmask32>((1u << (n - i)) - 1);
    const __m512bh x = (__m512bh)_mm512_maskz_loadu_epi16(m, a + i);
    for (int r = 0; r < R; ++r) acc0[r] = _mm512_dpbf16_ps(acc0[r], x, (__m512bh)_mm512_maskz_loadu_epi16(m, b[r] + i));
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[r], acc1[r]));
}

// Where within a 4 KB page gemvBf16Dot puts its rounded A rows. A weight's rows start at the same
// offset within their pages (a mapped file's and a large allocation's pages are aligned, and a row of
// K bf16 values is K * 2 bytes); an A row at that offset too would read, at every step, from the
// same L1 sets as the weight lines and their prefetches, and did by chance of the allocator: decoding's
// bf16 products read 45-51 GB/s where the float products read 58-62. Half a page and three lines
// apart they read 58-63 (the 1B shapes, 2026-12-04).
constexpr std::size_t kRowsPageOffset = 2048 + 3 * 64;

// Decoding's few rows against a bf16 weight under bf16 compute (M <= 4, B transposed and stored
// as bfloat16): each A row rounded to bf16 once, as the packed kernel rounds it, and every output a
// bf16 dot product of two rows read as stored -- where the packed kernel would pack the whole
// weight for a handful of rows. The operands and products are the packed kernel's; only the order
// of the float32 sums differs.
void gemvBf16Dot(const GemmProblem& p) {
  // The rounded rows start kRowsPageOffset bytes past a 4 KB boundary: see there.
  std::vector<uint16_t> storage(p.M * p.K + 4096 / sizeof(uint16_t));
  const std::size_t address = reinterpret_cast<std::uintptr_t>(storage.data());
  uint16_t* const rows = storage.data() + (kRowsPageOffset + 4096 - address % 4096) % 4096 / sizeof(uint16_t);
  for (std::size_t i = 0; i < p.M; ++i) floatsToBf16(p.A + i * p.lda, p.K, rows + i * p.K);
  forOutputRanges(p, [&](std::size_t j0, std::size_t j1) {
    std::size_t j = j0;
    if (p.M == 1) {
      j = rowsHalfApart(j0, j1, [&](std::size_t j, std::size_t k) {
        const uint16_t* const pair[2] = {p.Bbf16 + j * p.ldb, p.Bbf16 + k * p.ldb};
        float two[2];
        dotBf16Rows<2>(rows, pair, p.K, two);
        storeScaled(p, 0, j, two[0]);
        storeScaled(p, 0, k, two[1]);
      });
    }
    for (; j < j1; ++j) {
      const uint16_t* const row[1] = {p.Bbf16 + j * p.ldb};
      for (std::size_t i = 0; i < p.M; ++i) {
        float dot[1];
        dotBf16Rows<1>(rows + i * p.K, row, p.K, dot);
        storeScaled(p, i, j, dot[0]);
      }
    }
  });
}
#endif

}  // namespace

namespace {
bool gBf16Compute = false;
const KernelInfo* gBf16Forced = nullptr;  // setBf16Kernel's choice; null: the automatic one

// The kernel of bf16 compute: the AMX tile kernel where the CPU and OS offer it, else vdpbf16ps's.
const KernelInfo* bf16Kernel() {
  if (gBf16Forced) return gBf16Forced;
  if (const KernelInfo* amx = amxBf16Kernel()) return amx;
  return bf16DotKernel();
}

// With bf16 compute on, every product runs on the bf16 dot-product kernel, as under PyTorch's
// autocast: float32 operands are rounded to bf16 as they are packed, bfloat16 weights are read as
// they are, products accumulate in float32. (GIFT's own products, x psi and its gradients, were
// the largest float32 GEMMs left in a bf16 step.) Otherwise a bfloat16 weight is widened.
const KernelInfo& kernelFor(const KernelInfo& ki) {
  if (gBf16Compute) {
    if (const KernelInfo* k = bf16Kernel()) return *k;
  }
  return ki;
}
}  // namespace

void setBf16Compute(bool on) { gBf16Compute = on; }
void setInt8Activations(bool on) { gInt8Activations = on; }
bool bf16ComputeAvailable() { return bf16DotKernel() != nullptr; }
const KernelInfo* activeBf16Kernel() { return gBf16Compute ? bf16Kernel() : nullptr; }

bool setBf16Kernel(const char* name) {
  if (!name) {
    gBf16Forced = nullptr;
    return true;
  }
  const KernelInfo* k = nullptr;
  if (std::strcmp(name, "avx512bf16") == 0) k = bf16DotKernel();
  else if (std::strcmp(name, "amxbf16") == 0) k = amxBf16Kernel();
  // The reference reads the same layouts in scalar code; its packing still rounds with AVX-512 BF16.
  else if (std::strcmp(name, "amxbf16-reference") == 0 && bf16DotKernel()) k = &amxBf16ReferenceKernel();
  if (k) gBf16Forced = k;
  return k != nullptr;
}

const char* bf16KernelName() {
  const KernelInfo* k = bf16Kernel();
  return k ? k->name : nullptr;
}

#if defined(__x86_64__)
namespace {
__attribute__((target("avx512f,avx512bf16"))) std::size_t floatsToBf16Avx512(const float* src, std::size_t n, uint16_t* dst) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), reinterpret_cast<const __m256i&>(v));
  }
  return i;
}
}  // namespace
#endif

void floatsToBf16(const float* src, std::size_t n, uint16_t* dst) {
  std::size_t i = 0;
#if defined(__x86_64__)
  if (bf16DotKernel()) i = floatsToBf16Avx512(src, n, dst);  // the instruction exists where the kernel does
#endif
  for (; i < n; ++i) dst[i] = static_cast<uint16_t>(roundToBf16(src[i]));
}

namespace {
// The A panels of consecutive K slices that gemmFewRowsDeep keeps at once: within a core's L2 (1 MB
// on Zen 4 and 5, 2 MB on Sapphire Rapids) beside the B sliver and the C sliver being summed.
constexpr std::size_t kFewRowsPanelBytes = 640 * 1024;
// The smallest C that gemmFewRowsDeep takes: a C that stays in L2 between slices costs the slice-by-slice
// order little, and that order measured faster there (128 rows by 2048 -> 2048 or 8192 -> 2048).
constexpr std::size_t kFewRowsDeepC = 2 * 1024 * 1024;

// One block of A rows (M <= blockRows) against many columns and several K slices (a batch-1 x 128
// step of a 1B model: 128 x 2048 by 2048 x 8192), where gemmWeightRows does not take it: float32
// products, AMX tiles, quantized weights, an odd K, beta other than 0 or 1. (The figures below were
// measured for bf16 products over bf16 weights, which gemmWeightRows now computes on AVX-512 BF16.)
// Slice by slice over all of N, as gemm does for larger M, every slice after the first read C's
// 128 x N floats back from memory to add to them
// (4 MB, four times over, for 32 MB of bf16 weights), and read each weight row 1 KB at a time, a
// fresh page per row. Here the A panels of a group of slices are packed first; then each 32-column
// sliver of B takes every slice of the group in turn, its C tiles still in L1, its weight rows read
// along. The slices, and the order their partial sums are added in, are gemm's: the bits are the same.
// 128 rows, bf16 products, 2 threads of a Zen 5, best of 10 alternating: the 1B LM head (2048 ->
// 128256) 473-544 -> 591-623 GFLOP/s, 2048 -> 32064 about 10% and 2048 -> 8192 about 5% faster. Only
// W^T: for dY W (W not transposed, its pairs packed across rows) it measured slower.
void gemmFewRowsDeep(const GemmProblem& p, const KernelInfo& ki) {
  ThreadPool& pool = ThreadPool::instance();
  const std::size_t threads = static_cast<std::size_t>(pool.threads());
  const std::size_t MR = ki.mr, NR = ki.nr, kStep = sliceStep(ki, p);
  const std::size_t rowSlivers = (p.M + MR - 1) / MR;
  const std::size_t panelFloats = rowSlivers * MR * slotsFor(ki, kStep);  // one slice's A panel
  const std::size_t slices = (p.K + kStep - 1) / kStep;
  const std::size_t perGroup = std::max<std::size_t>(1, kFewRowsPanelBytes / (panelFloats * sizeof(float)));
  thread_local Buffer panelBuf;
  thread_local std::size_t panelCap = 0;
  float* panels = scratch(panelBuf, panelCap, std::min(perGroup, slices) * panelFloats);
  const std::size_t colSlivers = (p.N + NR - 1) / NR;
  // Eight ranges of slivers per thread, handed out as threads come free (forOutputRanges says why).
  const std::size_t ranges = std::min(colSlivers, 8 * threads);
  // K slice `slice` of p (gemm's slicing).
  const auto sliceOf = [&](std::size_t slice) { return kSliceOf(p, slice * kStep, std::min(kStep, p.K - slice * kStep)); };
  for (std::size_t g0 = 0; g0 < slices; g0 += perGroup) {
    const std::size_t g1 = std::min(slices, g0 + perGroup);
    pool.parallelFor((g1 - g0) * rowSlivers, [&](std::size_t task) {
      const std::size_t slice = g0 + task / rowSlivers, sliver = task % rowSlivers;
      const GemmProblem q = sliceOf(slice);
      const std::size_t from = sliver * MR, count = std::min(MR, p.M - from);
      packOperand(q, ki, true, from, count, 0, q.K, panels + (slice - g0) * panelFloats + sliver * MR * slotsFor(ki, q.K));
    });
    pool.parallelFor(ranges, [&](std::size_t r) {
      const std::size_t s0 = colSlivers * r / ranges, s1 = colSlivers * (r + 1) / ranges;
      for (std::size_t sliver = s0; sliver < s1; ++sliver) {
        const std::size_t j0 = sliver * NR, cols = std::min(NR, p.N - j0);
        for (std::size_t slice = g0; slice < g1; ++slice) {
          SharedPanels shared;
          shared.a = panels + (slice - g0) * panelFloats;
          gemmBlocks(columnsOf(sliceOf(slice), j0, cols), ki, shared);
        }
      }
    });
  }
}
}  // namespace

// Splits one GEMM into row bands (M >= N) or column bands, one per thread, aligned to the
// kernel's tile so no tile straddles two threads. The operand all bands share (B for row bands, A
// for column bands) is packed once per K slice, split over the threads, instead of by every
// thread for itself: at 2 threads that was half the packing, at 16 it was 16 copies of it.
void gemm(const GemmProblem& p, const KernelInfo& kiIn) {
  const KernelInfo& ki = kernelFor(kiIn);
  // Decoding's few rows against a Linear weight: a dot product per output, read from the weight's
  // storage. With bf16 compute on, every product rounds its operands to bf16, a few rows or many.
  const bool fewRows = p.M <= 4 && p.M > 0 && p.N > 0 && p.K > 0 && !p.transA && p.transB;
#if defined(__x86_64__)
  // A short prompt's prefill: packing copied every weight panel (a bf16 one widened, a quantized one
  // dequantized to float32) for a few rows, and cost more than their arithmetic (16 rows x 2048 x
  // 8192, bf16: 2.56 ms packed).
  // (With int8 activations a quantized weight's prefill takes llama.cpp's arithmetic below instead.)
  const bool int8Prefill = gInt8Activations && p.Bq && int8ActivationsFit(*p.Bq);
  const bool shortPrompt = p.M > 4 && p.M <= fewRowsLimit(p) && p.N > 0 && p.K > 0 && !p.transA && p.transB && !int8Prefill &&
                           cpuHasAvx512() && std::strcmp(ki.name, "portable") != 0;
#else
  const bool shortPrompt = false;
#endif
  if ((fewRows || shortPrompt) && !ki.pairPacked) {
    gemvTransB(p, ki);
    return;
  }
#if defined(__x86_64__)
  // (The pair kernel exists only where the CPU has AVX-512 BF16, which gemvBf16Dot needs.)
  if (fewRows && ki.pairPacked && p.Bbf16 && p.alpha != 0.0f) {
    gemvBf16Dot(p);
    return;
  }
#endif
  // A prompt's prefill with int8 activations: llama.cpp's arithmetic for every row, not only decoding's.
  if (gInt8Activations && p.M > 0 && p.N > 0 && !p.transA && p.transB && !ki.pairPacked && p.Bq && int8ActivationsFit(*p.Bq) &&
      p.bqCol0 == 0 && p.K == p.Bq->cols) {
    gemmInt8Activations(p, std::strcmp(ki.name, "portable") != 0);
    return;
  }
  ThreadPool& pool = ThreadPool::instance();
  const std::size_t threads = static_cast<std::size_t>(pool.threads());
  const double flops = 2.0 * p.M * p.N * p.K;
  const bool splitRows = p.M >= p.N;
  // Up to 256 rows against a bf16 Linear weight, bf16 products on AVX-512 BF16 (not AMX tiles, which
  // read packed panels): the weight's rows as stored, no packing of W^T (weight_rows.cpp).
  // 1 thread of a Zen 5, 128 rows, medians of alternating runs: 2048 -> 8192 13.2 -> 10.5 ms, 8192 ->
  // 2048 13.6 -> 10.9, 2048 -> 1024 1.38 -> 1.26; 64 and 32 rows 37-40% faster; 256 rows 1-15%.
  if (std::strcmp(ki.name, "avx512bf16") == 0 && flops >= 2.0e6 && weightRowsFit(p)) {
    gemmWeightRows(p);
    return;
  }
  if (!splitRows && p.transB && p.M <= blockRows(ki) && p.K > sliceStep(ki, p) && p.M * p.N * sizeof(float) > kFewRowsDeepC &&
      flops >= 2.0e6 && p.alpha != 0.0f) {
    gemmFewRowsDeep(p, ki);
    return;
  }
  if (threads == 1 || flops < 2.0e6 || p.K == 0 || p.alpha == 0.0f) {
    gemmSerial(p, ki);
    return;
  }
  const std::size_t extent = splitRows ? p.M : p.N;
  const std::size_t unit = splitRows ? ki.mr : ki.nr;
  const std::size_t units = (extent + unit - 1) / unit;
  const std::size_t tasks = std::min(threads, units);
  // The shared operand's extent (all of N for row bands, all of M for column bands) in slivers.
  const std::size_t sharedUnit = splitRows ? ki.nr : ki.mr;
  const std::size_t sharedExtent = splitRows ? p.N : p.M;
  const std::size_t slivers = (sharedExtent + sharedUnit - 1) / sharedUnit;
  thread_local Buffer sharedBuf;
  thread_local std::size_t sharedCap = 0;
  const std::size_t kStep = sliceStep(ki, p);
  float* panels = scratch(sharedBuf, sharedCap, slivers * sharedUnit * slotsFor(ki, kStep));
  for (std::size_t k0 = 0; k0 < p.K; k0 += kStep) {
    const GemmProblem slice = kSliceOf(p, k0, std::min(kStep, p.K - k0));
    const std::size_t slots = slotsFor(ki, slice.K);
    const std::size_t packTasks = std::min(threads, slivers);
    pool.parallelFor(packTasks, [&](std::size_t t) {
      const std::size_t s0 = slivers * t / packTasks, s1 = slivers * (t + 1) / packTasks;
      const std::size_t from = s0 * sharedUnit, to = std::min(sharedExtent, s1 * sharedUnit);
      if (from < to) packOperand(slice, ki, !splitRows, from, to - from, 0, slice.K, panels + s0 * slots * sharedUnit);
    });
    pool.parallelFor(tasks, [&](std::size_t t) {
      const std::size_t u0 = units * t / tasks, u1 = units * (t + 1) / tasks;
      const std::size_t lo = u0 * unit, hi = std::min(extent, u1 * unit);
      if (lo >= hi) return;
      GemmProblem sub = slice;
      SharedPanels shared;
      if (splitRows) {
        sub.M = hi - lo;
        sub.A = slice.transA ? slice.A + lo : slice.A + lo * slice.lda;
        sub.C = slice.C + lo * slice.ldc;
        shared.b = panels;
      } else {
        sub = columnsOf(slice, lo, hi - lo);
        shared.a = panels;
      }
      gemmBlocks(sub, ki, shared);
    });
  }
}

void gemmBatched(const GemmProblem& p, std::size_t batch, std::size_t strideA,
                 std::size_t strideB, std::size_t strideC, const KernelInfo& kiIn) {
  const KernelInfo& ki = kernelFor(kiIn);
  ThreadPool& pool = ThreadPool::instance();
  auto one = [&](std::size_t b) {
    GemmProblem sub = p;
    sub.A = p.A + b * strideA;
    if (p.B) sub.B = p.B + b * strideB;
    if (p.Bbf16) sub.Bbf16 = p.Bbf16 + b * strideB;
    sub.C = p.C + b * strideC;
    return sub;
  };
  if (batch >= static_cast<std::size_t>(pool.threads()) && batch > 1) {
    pool.parallelFor(batch, [&](std::size_t b) { gemmSerial(one(b), ki); });
  } else {
    for (std::size_t b = 0; b < batch; ++b) gemm(one(b), ki);
  }
}

}  // namespace giftjs

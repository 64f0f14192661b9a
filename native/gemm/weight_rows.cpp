// Y = X W^T over a bf16 weight with bf16 products, for up to 256 rows of X (a batch-1 or -2 x 128
// step of a 1B model, its LM head): computed as Y^T = W X^T, W's rows read as stored.
//
// The blocked GEMM (gemm.cpp) packs W^T into k-pair slivers first: a 32-bit transpose of every
// weight, every time. perf put that pack at 16-27% of a 128-row forward GEMM's time (1024 -> 1024,
// 2048 -> 2048, 8192 -> 2048, one thread of a Zen 5), its samples on the loads of W's rows.
// Here the roles are swapped. A weight row's pair (w[n][2p], w[n][2p + 1]) is already the 32-bit
// word vdpbf16ps broadcasts, so the kernel broadcasts it straight from W's storage; the
// activations, a few rows shared by every weight row, are the operand packed into pairs (once per
// K slice, as the blocked GEMM packs them too), and the tile of Y^T is transposed in registers as
// it is stored.
//
//   for each K slice (its packed X^T within L2)            pack X^T pairs, 32 rows of X a sliver
//     for each strip of 10 weight rows (threads)
//       for each 32-row sliver of X                         kernel: 10 x 32 tile over the slice
//
// Sums run over each slice in k order inside the kernel and are added to Y slice after slice, in
// the same order on any number of threads.
#include "weight_rows.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "../runtime/thread_pool.h"
#include "pack.h"
#include "scratch.h"
#include "transpose16.h"

namespace giftjs {

#if defined(__x86_64__)
namespace {

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16")

// Weight rows of a tile: 20 accumulators + 2 activation vectors + 1 broadcast. Each step reads one word
// of every row, and a weight row of 2048 or 8192 bf16 values is a multiple of 4 KB, so the rows' lines
// all fall in one L1 set (Zen 5: 64 sets of 12 ways): 14 rows, as this was, outnumbered the ways and
// evicted each other every step. Scratch harness on a Zen 5, 128 rows of X, 2 threads, medians of
// seven alternations (GFLOP/s), 14 rows against 10: 2048 -> 8192 726 / 819, 8192 -> 2048 723 / 834,
// 2048 -> 2048 768 / 879. 12 rows measured no better than 14; 7 rows, fewer words a step per load of
// X, 3-10% below 10 (four alternations). (Zen 4's L1 has 8 ways, which 10 rows still outnumber; not
// measured there.)
constexpr int kStripRows = 10;
constexpr std::size_t kSliverRows = 32;  // rows of X of a tile: two vectors of 16
// The packed X^T of one K slice, for all of X's slivers: kept within L2 (1 MB a core on Zen 4 and 5)
// beside the strip of weight rows it meets. Unsliced, K = 8192 (a 1B down projection) packed 2 MB
// for 128 rows and took 8.0 ms against the blocked GEMM's 6.9 (2 threads); sliced to 512 KB, 10.9
// against 13.6 (one thread).
constexpr std::size_t kSliceBytes = 512 * 1024;

// Weight row pair p as one 32-bit word (rows need not be 4-byte aligned).
inline uint32_t pairAt(const uint16_t* row, std::size_t p) {
  uint32_t v;
  std::memcpy(&v, row + 2 * p, 4);
  return v;
}

// acc[i] holds Y^T row n0 + i (lanes: 16 rows of X). Transposed, lane i of row m is Y[m][n0 + i]:
// the first ROWS lanes of the first `rows` rows are stored (or added to Y).
template <int ROWS>
__attribute__((always_inline)) inline void storeTransposed(const __m512* acc, float* Y, std::size_t ldy, std::size_t rows,
                                                           float alpha, bool accumulate) {
  __m512 t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) t[i] = i < ROWS ? acc[i] : _mm512_setzero_ps();
  transpose16(t);
  const __mmask16 keep = static_cast<__mmask16>((1u << ROWS) - 1);
  const __m512 va = _mm512_set1_ps(alpha);
  for (std::size_t m = 0; m < std::min<std::size_t>(16, rows); ++m) {
    __m512 v = _mm512_mul_ps(t[m], va);
    if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(keep, Y + m * ldy));
    _mm512_mask_storeu_ps(Y + m * ldy, keep, v);
  }
}

// Y[m0 .. m0 + rows, n0 .. n0 + ROWS] (+)= alpha * X W^T over `pairs` k-pairs: w points at weight
// row n0 (ldw values a row), x at the sliver's packed pairs (32 words a pair: rows m0 .. m0 + 31 of
// X, zero past the end), Y at Y[m0][n0]. With at most 16 rows of X (the last sliver of 168 rows,
// say), only the first vector's half of the arithmetic is done.
template <int ROWS, bool HALF>
void weightRowsTile(std::size_t pairs, const uint16_t* w, std::size_t ldw, const uint32_t* x, float* Y, std::size_t ldy,
                    std::size_t rows, float alpha, bool accumulate) {
  __m512 c0[ROWS], c1[ROWS];
#pragma GCC unroll 16
  for (int i = 0; i < ROWS; ++i) {
    c0[i] = _mm512_setzero_ps();
    c1[i] = _mm512_setzero_ps();
  }
  for (std::size_t p = 0; p < pairs; ++p) {
    const __m512bh x0 = (__m512bh)_mm512_load_si512(x + kSliverRows * p);
    const __m512bh x1 = HALF ? x0 : (__m512bh)_mm512_load_si512(x + kSliverRows * p + 16);
#pragma GCC unroll 16
    for (int i = 0; i < ROWS; ++i) {
      const __m512bh wi = (__m512bh)_mm512_set1_epi32(static_cast<int>(pairAt(w + i * ldw, p)));
      c0[i] = _mm512_dpbf16_ps(c0[i], wi, x0);
      if (!HALF) c1[i] = _mm512_dpbf16_ps(c1[i], wi, x1);
    }
  }
  storeTransposed<ROWS>(c0, Y, ldy, rows, alpha, accumulate);
  if (!HALF && rows > 16) storeTransposed<ROWS>(c1, Y + 16 * ldy, ldy, rows - 16, alpha, accumulate);
}

using Tile = void (*)(std::size_t, const uint16_t*, std::size_t, const uint32_t*, float*, std::size_t, std::size_t, float, bool);
// tiles[half][r]: the tile of r weight rows (a strip at N's end may be shorter than kStripRows).
template <bool HALF, std::size_t... R>
constexpr std::array<Tile, kStripRows + 1> tileRow(std::index_sequence<R...>) {
  return {nullptr, &weightRowsTile<static_cast<int>(R) + 1, HALF>...};
}
constexpr std::array<std::array<Tile, kStripRows + 1>, 2> kTiles = {tileRow<false>(std::make_index_sequence<kStripRows>()),
                                                                   tileRow<true>(std::make_index_sequence<kStripRows>())};

#pragma GCC pop_options

}  // namespace

// The most rows of X it takes. One thread of a Zen 5, medians of alternating runs: at 256 rows 1-15%
// faster than the blocked GEMM (2048 -> 512 1.27 -> 1.25 ms, 2048 -> 2048 5.90 -> 5.30, 576 -> 1536
// 1.14 -> 1.02, 2048 -> 8192 26.6 -> 22.5); at 336 the same; at 1024 slower over SmolLM2's small
// weights (576 -> 1536 4.20 -> 4.70), whose W^T packing is cheap beside that many rows.
constexpr std::size_t kMostRows = 256;

bool weightRowsFit(const GemmProblem& p) {
  return p.Bbf16 && !p.Bq && p.transB && !p.transA && p.M > 0 && p.M <= kMostRows && p.N > 0 && p.K > 0 && p.K % 2 == 0 &&
         p.alpha != 0.0f && (p.beta == 0.0f || p.beta == 1.0f);
}

void gemmWeightRows(const GemmProblem& p) {
  const std::size_t slivers = (p.M + kSliverRows - 1) / kSliverRows;
  // Equal slices of an even depth, set by X's rows alone (so any thread count sums alike).
  const std::size_t most = std::max<std::size_t>(2, kSliceBytes / (slivers * kSliverRows * 2) / 2 * 2);
  const std::size_t slices = (p.K + most - 1) / most;
  const std::size_t kStep = ((p.K + slices - 1) / slices + 1) / 2 * 2;
  thread_local Buffer buffer;
  thread_local std::size_t capacity = 0;
  uint32_t* packed = reinterpret_cast<uint32_t*>(scratch(buffer, capacity, slivers * (kStep / 2) * kSliverRows));
  // X as the transposed B of packBPairs: its rows are the columns whose k-pairs are packed, rounded to bf16
  // exactly as the blocked GEMM rounds its A.
  GemmProblem xAsB;
  xAsB.transB = true;
  xAsB.N = p.M;
  xAsB.K = p.K;
  xAsB.B = p.A;
  xAsB.ldb = p.lda;
  ThreadPool& pool = ThreadPool::instance();
  const std::size_t strips = (p.N + kStripRows - 1) / kStripRows;
  // Eight ranges of strips per thread, handed out as threads come free.
  const std::size_t ranges = std::min<std::size_t>(strips, 8 * static_cast<std::size_t>(pool.threads()));
  for (std::size_t k0 = 0; k0 < p.K; k0 += kStep) {
    const std::size_t kc = std::min(kStep, p.K - k0), pairs = kc / 2;
    pool.parallelFor(slivers, [&](std::size_t s) {
      const std::size_t m0 = s * kSliverRows;
      packBPairs(xAsB, k0, kc, m0, std::min(kSliverRows, p.M - m0), kSliverRows, reinterpret_cast<float*>(packed + s * pairs * kSliverRows));
    });
    const bool accumulate = k0 > 0 || p.beta != 0.0f;
    pool.parallelFor(ranges, [&](std::size_t r) {
      for (std::size_t s = strips * r / ranges; s < strips * (r + 1) / ranges; ++s) {
        const std::size_t n0 = s * kStripRows, rows = std::min<std::size_t>(kStripRows, p.N - n0);
        for (std::size_t sliver = 0; sliver < slivers; ++sliver) {
          const std::size_t m0 = sliver * kSliverRows, mRows = std::min(kSliverRows, p.M - m0);
          kTiles[mRows <= 16][rows](pairs, p.Bbf16 + n0 * p.ldb + k0, p.ldb, packed + sliver * pairs * kSliverRows, p.C + m0 * p.ldc + n0,
                                    p.ldc, mRows, p.alpha, accumulate);
        }
      }
    });
  }
}
#else
bool weightRowsFit(const GemmProblem&) { return false; }
void gemmWeightRows(const GemmProblem&) {}
#endif

}  // namespace giftjs

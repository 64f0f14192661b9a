// Products of many activation rows (a prompt's prefill) over quantized weights with int8
// activations, as llama.cpp computes them (gemm.h, setInt8Activations): C = alpha * X W^T + beta * C
// with each row of X rounded to Q8_0 blocks and, per block, an integer dot product with W's codes
// scaled by both d's -- quantized.h's dotInt8Activations, for M rows at once.
//
// The AVX-512 VNNI path packs 16 rows of W at a time ("a strip") so that one 32-bit lane holds one
// W row: for each block and each quad q of its 32 values, 16 lanes x 4 bytes = W rows j0 .. j0 + 15,
// values 4q .. 4q + 3, as unsigned bytes (Q4_0 codes as stored, 0-15; int8 codes + 128). One
// vpdpbusd then adds four products of 16 rows with the same four codes of an X row, broadcast. The
// offset the unsigned codes carry (8, or 128) comes off as -offset x the block's sum of X codes, the
// integer sum's starting value. Each block's sum is then scaled by dX(i, b) * dW(j, b) into float32.
#include "int8_gemm.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "../runtime/cpu_features.h"
#include "../runtime/thread_pool.h"
#include "transpose16.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace giftjs {

namespace {

#if defined(__x86_64__)
// X's rows in Q8_0: codes, widened d's, and -offset x each block's code sum (the integer sums' start).
struct RoundedRows {
  std::size_t blocks = 0;
  std::vector<int8_t> codes;   // M x K
  std::vector<float> d;        // M x blocks
  std::vector<int32_t> start;  // M x blocks
  std::vector<std::size_t> rows;  // the rows that could be rounded (finite, d within half precision)
};

RoundedRows roundRows(const GemmProblem& p, int offset) {
  RoundedRows x;
  x.blocks = p.K / 32;
  x.codes.resize(p.M * p.K);
  x.d.resize(p.M * x.blocks);
  x.start.resize(p.M * x.blocks);
  std::vector<uint16_t> halves(x.blocks);
  for (std::size_t i = 0; i < p.M; ++i) {
    int8_t* codes = x.codes.data() + i * p.K;
    if (!quantizeRows(p.A + i * p.lda, nullptr, 0, 1, 8, 1, p.K, 32, reinterpret_cast<uint8_t*>(codes), halves.data())) continue;
    for (std::size_t b = 0; b < x.blocks; ++b) {
      x.d[i * x.blocks + b] = widenF16(halves[b]);
      int sum = 0;
      for (std::size_t t = 0; t < 32; ++t) sum += codes[b * 32 + t];
      x.start[i * x.blocks + b] = -offset * sum;
    }
    x.rows.push_back(i);
  }
  return x;
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,f16c")

constexpr std::size_t kStrip = 16;  // W rows per strip: one per 32-bit lane

// W rows j0 .. j0 + n (n <= 16) packed as above: codes (blocks x 8 quads x 64 bytes) and dW (blocks x 16
// floats). Rows past n are zero codes with d 0, so their lanes add nothing that is kept.
// Codes copied apart (what generate and serve hold) are read a whole 64-byte line of each row at a time
// (four Q4_0 blocks or two Q8_0 ones), 16 rows of them transposed as 32-bit words in registers. Gathering
// each quad of a block from the 16 rows had been most of a short prompt's time: perf put 55% of the
// 16-token prefill's int4 products on the gathers, the block's first one waiting on its 16 rows' lines.
// Each line asks for the same line of the strip `stripsAhead` on (the next one packed after this
// strip's products: 1 alone, 2 in pairs), which the hardware prefetchers (16 rows, each read 64 bytes a
// step) had not fetched in time: the loads were then a third of the products' time. 1B shape, 2
// threads, a 16-token prompt, one strip at a time: int4 ~182 -> ~240 tokens/s, int8 ~148 -> ~215 (two
// and four strips ahead: no better). GGUF's interleaved blocks (18 or 34 bytes) and the blocks past the last
// whole line are gathered still; both ways store the same bytes.
void packStrip(const QuantizedMatrix& w, std::size_t j0, std::size_t n, std::size_t stripsAhead, uint8_t* codes, float* d) {
  const std::size_t blocks = w.cols / 32, rowBytes = w.rowBytes(), blockBytes = w.blockBytes();
  const __mmask16 live = static_cast<__mmask16>((1u << n) - 1);
  const __m512i rowStarts = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                               _mm512_set1_epi32(static_cast<int>(rowBytes)));
  const uint8_t* base = w.rowCodes(j0);
  // Row j0's first scale, and the scale slots from one row's to the next's: scaleBits per row and block
  // (rowScales' multiplications each time) took a 16-token prompt's Q4_0 layers from 66-67 to 76-78 ms.
  const uint16_t* firstScale = w.rowScales(j0);
  const std::size_t scaleRowStride = w.groupsPerRow() * w.scaleStride();
  const __m512i lowNibbles = _mm512_set1_epi8(0x0f);
  const __m512i flipSign = _mm512_set1_epi8(static_cast<char>(0x80));
  const int quadsPerBlock = w.bits == 4 ? 4 : 8;  // 32-bit words of a block's codes
  // Word q of block b's codes in the 16 rows (lane j: row j0 + j; rows past n zero) into the packed quads.
  const auto storeWord = [&](std::size_t b, int q, __m512i v) {
    uint8_t* out = codes + b * 8 * 64;
    if (w.bits == 4) {
      // Word q holds values 4q .. 4q + 3 (low nibbles) and 16 + 4q .. (high).
      _mm512_storeu_si512(out + q * 64, _mm512_and_si512(v, lowNibbles));
      _mm512_storeu_si512(out + (q + 4) * 64, _mm512_and_si512(_mm512_srli_epi16(v, 4), lowNibbles));
    } else {
      // Signed codes + 128 as unsigned bytes; rows past n stay 0 (their d is 0).
      _mm512_storeu_si512(out + q * 64, _mm512_mask_xor_epi32(v, live, v, flipSign));
    }
  };
  // Each row's d of block b: vcvtph2ps, exact as widenF16 is (a call of that per row and block, and
  // two divisions per row and block, took more time than a prompt's int4 products).
  const auto storeScales = [&](std::size_t b) {
    const uint16_t* blockScale = firstScale + w.groupOf(b * 32) * w.scaleStride();
    for (std::size_t j = 0; j < kStrip; ++j) d[b * kStrip + j] = j < n ? _cvtsh_ss(blockScale[j * scaleRowStride]) : 0.0f;
  };
  std::size_t b = 0;
  if (!w.interleaved) {
    const std::size_t lineBlocks = 64 / blockBytes;
    for (; b + lineBlocks <= blocks; b += lineBlocks) {
      __m512 words[16];
      for (std::size_t j = 0; j < kStrip; ++j) {
        const uint8_t* line = base + j * rowBytes + b * blockBytes;
        words[j] = j < n ? _mm512_loadu_ps(line) : _mm512_setzero_ps();
        _mm_prefetch(reinterpret_cast<const char*>(line + stripsAhead * kStrip * rowBytes), _MM_HINT_T1);
      }
      transpose16(words);  // words[t], lane j: word t of row j's line (block b + t / quadsPerBlock)
      for (int t = 0; t < 16; ++t) storeWord(b + t / quadsPerBlock, t % quadsPerBlock, _mm512_castps_si512(words[t]));
      for (std::size_t u = 0; u < lineBlocks; ++u) storeScales(b + u);
    }
  }
  for (; b < blocks; ++b) {
    for (int q = 0; q < quadsPerBlock; ++q) {
      const __m512i idx = _mm512_add_epi32(rowStarts, _mm512_set1_epi32(static_cast<int>(b * blockBytes + 4 * q)));
      storeWord(b, q, _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), live, idx, base, 1));
    }
    storeScales(b);
  }
}

// MR rounded X rows (rows[0 .. MR)) against S packed strips: out[s][r][0 .. 16) = sum over blocks of
// dX * dW * (integer sum), the same arithmetic for S = 1 or 2. Against two strips each broadcast quad
// of X serves 32 W rows (6 X rows: 12 sums and 12 outputs in registers) where it served 16: the
// broadcasts had been as many instructions as the dot products. 1B shape, 2 threads, alternating:
// a 128-token prompt int4 ~375 -> ~450 tokens/s, int8 ~365 -> ~450; 16 tokens 0-7% faster.
template <int MR, int S>
void stripTile(const RoundedRows& x, const std::size_t* rows, std::size_t K, const uint8_t* const codes[S], const float* const d[S],
               __m512 out[S][MR]) {
  const int8_t* xr[MR];
  const float* dx[MR];
  const int32_t* start[MR];
  for (int r = 0; r < MR; ++r) {
    xr[r] = x.codes.data() + rows[r] * K;
    dx[r] = x.d.data() + rows[r] * x.blocks;
    start[r] = x.start.data() + rows[r] * x.blocks;
    for (int s = 0; s < S; ++s) out[s][r] = _mm512_setzero_ps();
  }
  for (std::size_t b = 0; b < x.blocks; ++b) {
    __m512i sum[S][MR];
    for (int r = 0; r < MR; ++r)
      for (int s = 0; s < S; ++s) sum[s][r] = _mm512_set1_epi32(start[r][b]);
    for (int q = 0; q < 8; ++q) {
      __m512i wq[S];
      for (int s = 0; s < S; ++s) wq[s] = _mm512_loadu_si512(codes[s] + (b * 8 + q) * 64);
      for (int r = 0; r < MR; ++r) {
        int32_t quad;
        std::memcpy(&quad, xr[r] + b * 32 + 4 * q, 4);
        const __m512i xq = _mm512_set1_epi32(quad);
        for (int s = 0; s < S; ++s) sum[s][r] = _mm512_dpbusd_epi32(sum[s][r], wq[s], xq);
      }
    }
    for (int s = 0; s < S; ++s) {
      const __m512 dw = _mm512_loadu_ps(d[s] + b * kStrip);
      for (int r = 0; r < MR; ++r)
        out[s][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[s][r]), _mm512_mul_ps(dw, _mm512_set1_ps(dx[r][b])), out[s][r]);
    }
  }
}

template <int MR>
void storeTile(const GemmProblem& p, const std::size_t* rows, std::size_t j0, std::size_t n, const __m512 out[MR]) {
  alignas(64) float values[kStrip];
  for (int r = 0; r < MR; ++r) {
    _mm512_store_ps(values, out[r]);
    for (std::size_t j = 0; j < n; ++j) storeScaled(p, rows[r], j0 + j, values[j]);
  }
}

// Rows [r, ..) of X, MR at a time while MR remain, against S packed strips from column j0 (n[s] columns
// each); returns the first row left.
template <int MR, int S>
std::size_t rowTiles(const GemmProblem& p, const RoundedRows& x, std::size_t r, std::size_t j0, const std::size_t n[S],
                     const uint8_t* const codes[S], const float* const d[S]) {
  __m512 out[S][MR];
  for (; r + MR <= x.rows.size(); r += MR) {
    stripTile<MR, S>(x, x.rows.data() + r, p.K, codes, d, out);
    for (int s = 0; s < S; ++s) storeTile<MR>(p, x.rows.data() + r, j0 + s * kStrip, n[s], out[s]);
  }
  return r;
}

// Every live row of X against S packed strips: tiles of MR rows (6 against two strips, 8 against one:
// 24 or 16 accumulators), then of 4, then single rows.
template <int S, int MR>
void stripRows(const GemmProblem& p, const RoundedRows& x, std::size_t j0, const std::size_t n[S], const uint8_t* const codes[S],
               const float* const d[S]) {
  std::size_t r = rowTiles<MR, S>(p, x, 0, j0, n, codes, d);
  r = rowTiles<4, S>(p, x, r, j0, n, codes, d);
  rowTiles<1, S>(p, x, r, j0, n, codes, d);
}

void int8GemmVnni(const GemmProblem& p, const RoundedRows& x) {
  const std::size_t strips = (p.N + kStrip - 1) / kStrip;
  ThreadPool& pool = ThreadPool::instance();
  const std::size_t chunks = std::min<std::size_t>(strips, static_cast<std::size_t>(pool.threads()));
  pool.parallelFor(chunks, [&](std::size_t c) {
    // Kept per thread across calls: allocated afresh, two strips' buffers (over 256 KB a thread at K 8192)
    // went back to the system after each call and came back as page faults in the next.
    thread_local std::vector<uint8_t> codes;
    thread_local std::vector<float> d;
    if (codes.size() < 2 * x.blocks * 8 * 64) codes.resize(2 * x.blocks * 8 * 64);
    if (d.size() < 2 * x.blocks * kStrip) d.resize(2 * x.blocks * kStrip);
    uint8_t* const secondCodes = codes.data() + x.blocks * 8 * 64;  // the second strip of a pair
    float* const secondD = d.data() + x.blocks * kStrip;
    const uint8_t* const codesOf[2] = {codes.data(), secondCodes};
    const float* const dOf[2] = {d.data(), secondD};
    const std::size_t s1 = strips * (c + 1) / chunks;
    for (std::size_t s = strips * c / chunks; s < s1;) {
      const std::size_t j0 = s * kStrip;
      if (s + 1 < s1) {  // two strips, packed each asking for the lines of the strip two on
        const std::size_t n[2] = {kStrip, std::min(kStrip, p.N - j0 - kStrip)};
        packStrip(*p.Bq, p.bqRow0 + j0, n[0], 2, codes.data(), d.data());
        packStrip(*p.Bq, p.bqRow0 + j0 + kStrip, n[1], 2, secondCodes, secondD);
        stripRows<2, 6>(p, x, j0, n, codesOf, dOf);
        s += 2;
      } else {
        const std::size_t n[1] = {std::min(kStrip, p.N - j0)};
        packStrip(*p.Bq, p.bqRow0 + j0, n[0], 1, codes.data(), d.data());
        stripRows<1, 8>(p, x, j0, n, codesOf, dOf);
        s += 1;
      }
    }
  });
}
#pragma GCC pop_options
#endif

}  // namespace

void gemmInt8Activations(const GemmProblem& p, bool vector) {
  const QuantizedMatrix& w = *p.Bq;
  // Row i of the float product (a row that cannot be rounded).
  // (Through dotQuantizedRows: a Q4_0 row is put in nibble order once, not once per output.)
  const auto floatRow = [&](std::size_t i) {
    std::vector<float> dots(p.N);
    dotQuantizedRows(p.A + i * p.lda, w, p.bqRow0, p.N, dots.data(), vector);
    for (std::size_t j = 0; j < p.N; ++j) storeScaled(p, i, j, dots[j]);
  };
#if defined(__x86_64__)
  if (vector && cpuHasAvx512Vnni()) {
    const RoundedRows x = roundRows(p, w.bits == 4 ? 8 : 128);
    int8GemmVnni(p, x);
    for (std::size_t i = 0, k = 0; i < p.M; ++i) {
      if (k < x.rows.size() && x.rows[k] == i) ++k;
      else floatRow(i);
    }
    return;
  }
#endif
  // Elsewhere (and under the portable kernel): quantized.h's dot product, row by row.
  ThreadPool::instance().parallelFor(p.M, [&](std::size_t i) {
    Int8Activations row;
    if (!roundToInt8(p.A + i * p.lda, p.K, row)) return floatRow(i);
    for (std::size_t j = 0; j < p.N; ++j) storeScaled(p, i, j, dotInt8Activations(row, w, p.bqRow0 + j, vector));
  });
}

}  // namespace giftjs

// Scaled dot-product attention, forward and backward side by side.
//
// Queries are taken in blocks of kQueryBlock rows. Under a causal mask a block sees only the keys
// up to its last query's position, so the score GEMMs of later blocks are longer and earlier ones
// shorter: the masked upper triangle is (mostly) never computed, about 40% fewer attention FLOPs at
// T = 256. The forward saves only the log-sum-exp of each score row; the backward recomputes the
// probabilities from Q, K and that lse, so no [T, S] matrix outlives a block (the trade
// FlashAttention makes, done with the packed GEMM on [block, keys] tiles). Dropout on the
// probabilities (BERT's and ViT's attention in training) is drawn the same way: each block's
// probabilities are dropped before they weigh V, their mask hashed from each probability's index
// (dropout_mask.h), and the backward draws the same mask again, so the dropout holds nothing.
//
// With bf16 compute on (gift train --bf16), every product runs on the bf16 dot-product kernel, as
// PyTorch's autocast runs attention in bfloat16: the operands are rounded to bf16 (Q, K, V and dO
// once per head or block, the probabilities and dS as the GEMM packs them) and the products
// accumulate in float32; the softmax, its log-sum-exp and dS itself stay float32.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "../gemm/gemm.h"
#include "../gemm/scratch.h"
#include "../runtime/cpu_features.h"
#include "../runtime/thread_pool.h"
#include "dropout_mask.h"
#include "kernels.h"
#include "vec_exp.h"
#include "vec_reduce.h"

namespace giftjs {

namespace {

// Masks one score row of query t over keys [first, keys) (row[0] is key `first`): keys before the
// sliding window and padded keys become -inf; returns how many leading entries of the row the
// causal mask lets the query see (the caller treats the rest as masked). Packed sequences
// (segmented) also hide the keys of other segments.
inline std::size_t maskRow(const AttentionShape& s, const float* keyMask, std::size_t b,
                           std::size_t t, std::size_t first, std::size_t keys, float* row) {
  const std::size_t position = t + s.S - s.T;
  const std::size_t seen = (s.causal ? std::min(keys, position + 1) : keys) - first;
  if (s.window) {
    const std::size_t lo = position + 1 > s.window ? position + 1 - s.window : 0;
    for (std::size_t j = first; j < lo && j < first + seen; ++j) row[j - first] = -INFINITY;
  }
  if (keyMask) {
    const float* m = keyMask + b * s.S + first;
    if (s.segmented) {
      const float own = keyMask[b * s.S + position];
      for (std::size_t j = 0; j < seen; ++j)
        if (m[j] == 0.0f || m[j] != own) row[j] = -INFINITY;
    } else {
      for (std::size_t j = 0; j < seen; ++j)
        if (m[j] == 0.0f) row[j] = -INFINITY;
    }
  }
  return seen;
}

// Soft-caps n scores in place, s = cap * tanh(s / cap), and (when capGrad is given) keeps each
// one's derivative 1 - tanh^2 for the backward.
inline void softcapScores(float cap, float* scores, std::size_t n, float* capGrad) {
  const float inv = 1.0f / cap;
  for (std::size_t i = 0; i < n; ++i) {
    const float th = std::tanh(scores[i] * inv);
    scores[i] = cap * th;
    if (capGrad) capGrad[i] = 1.0f - th * th;
  }
}

// Attention's dropout on `rows` rows of `keys` probabilities (ld apart) of the query rows from row0
// (b H T + h T + t), from key `first`: each value's mask drawn from its flat index in the [B, H, T, S]
// probabilities, as dropoutMultiply draws it over them. src may be dst.
void dropProbabilities(const AttentionShape& s, const float* src, float* dst, std::size_t rows, std::size_t keys,
                       std::size_t ld, std::size_t row0, std::size_t first) {
  for (std::size_t r = 0; r < rows; ++r)
    dropoutSpan(src + r * ld, dst + r * ld, keys, static_cast<std::uint32_t>((row0 + r) * s.S + first), s.dropKey0,
                s.dropKey1, s.dropBelow, s.keepScale);
}

// The kernel every product of a call runs on: with bf16 compute on, the bf16 dot-product kernel
// (its packing rounds float32 operands to bf16), else the float32 one.
const KernelInfo& productKernel() {
  const KernelInfo* bf16 = activeBf16Kernel();
  return bf16 ? *bf16 : selectKernel();
}

// C (M x N) = alpha * op(A) * op(B) + beta * C as a problem for gemmSerial.
GemmProblem product(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const float* A,
                    std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
                    std::size_t ldc, float alpha = 1.0f) {
  GemmProblem p;
  p.transA = ta; p.transB = tb;
  p.M = M; p.N = N; p.K = K;
  p.alpha = alpha;
  p.A = A; p.lda = lda;
  p.B = B; p.ldb = ldb;
  p.beta = beta; p.C = C; p.ldc = ldc;
  return p;
}

// One B operand of every (batch, key/value head), packed once per call (gemm.h's PackedB): every
// query block, and every query head of a group, multiplies its head's keys and values, and packing
// them again for each product took 7% of the attention's time at SmolLM2's shapes (T 256, groups
// of 3). Reused across calls, like the gradient slots below: fresh memory per call costs page faults.
class HeadPanels {
 public:
  // How a product reads a head's S rows of D values (keys or values): as its columns (K^T, V^T:
  // the scores and dP) or as its depth (K, V: dQ and the output).
  enum class Rows { AsColumns, AsDepth };

  // Packs the first S rows of each of the B * Hkv heads of x (kvRows rows apart) as `rows` says.
  void pack(const AttentionShape& s, const float* x, Rows rows, const KernelInfo& ki) {
    const std::size_t heads = s.B * s.Hkv;
    const bool asColumns = rows == Rows::AsColumns;
    const std::size_t perHead = (packedBFloats(ki, asColumns ? s.D : s.S, asColumns ? s.S : s.D) + 15) / 16 * 16;  // 64-byte aligned
    float* base = scratch(buffer_, capacity_, heads * perHead);
    panels_.resize(heads);
    ThreadPool::instance().parallelFor(heads, [&](std::size_t i) {
      const float* head = x + i * s.kvRows * s.D;
      const GemmProblem b = asColumns ? product(false, true, 0, s.S, s.D, nullptr, 0, head, s.D, 0.0f, nullptr, 0)
                                      : product(false, false, 0, s.D, s.S, nullptr, 0, head, s.D, 0.0f, nullptr, 0);
      panels_[i] = packBAhead(b, ki, base + i * perHead);
    });
  }
  const PackedB& operator[](std::size_t head) const { return panels_[head]; }

 private:
  Buffer buffer_;
  std::size_t capacity_ = 0;
  std::vector<PackedB> panels_;
};
using Rows = HeadPanels::Rows;

// The panels of one call, forward or backward (which one says what each holds), kept per thread.
thread_local HeadPanels callPanels[3];

constexpr std::size_t kQueryBlock = 64;

// How many keys (from 0) queries [.., t1) can see: all S, or under a causal mask up to the last
// query's position t1 - 1 + S - T.
inline std::size_t visibleKeys(const AttentionShape& s, std::size_t t1) {
  return s.causal ? std::min(s.S, t1 + s.S - s.T) : s.S;
}

// The first key queries [t0, ..) can see: 0, or under a sliding window the first key in the window
// of query t0 (position t0 + S - T). Keys before it are never multiplied.
inline std::size_t firstVisibleKey(const AttentionShape& s, std::size_t t0) {
  const std::size_t position = t0 + s.S - s.T;
  return s.window && position + 1 > s.window ? position + 1 - s.window : 0;
}

// ---- Few queries against many keys (decoding) ------------------------------------------------
//
// A decoding step has one query row per head against every cached key. Through the packed GEMM
// above, each query head packed its key/value head's K and V again (four times over for Llama-3's
// groups of four) for a single row: at 2048 cached positions the 1B model's attention took 1.9 ms a
// layer, eleven times the time its K and V take to read. Here one task takes one key/value head and
// every query row that reads it (the group's heads x T rows, contiguous in q), and reads each key
// and value row once for all of them. Under bf16 compute it rounds the operands as the GEMM path's
// packing does (Q, K, V, and the probabilities before they meet V) and multiplies the rounded values
// in float32, where the bf16 products are exact: the sums differ from vdpbf16ps's only in their order.

constexpr std::size_t kFewQueryRows = 16;

bool fewQueries(const AttentionShape& s) { return s.T * (s.H / s.Hkv) <= kFewQueryRows; }

// n floats rounded to bf16 (round to nearest even, NaN kept, as floatsToBf16) and widened back, into `dst`.
const float* roundedToBf16(const float* src, std::size_t n, std::vector<float>& dst) {
  thread_local std::vector<uint16_t> bits;
  bits.resize(n);
  dst.resize(n);
  floatsToBf16(src, n, bits.data());
  for (std::size_t i = 0; i < n; ++i) dst[i] = widenBf16(bits[i]);
  return dst.data();
}

#if defined(__x86_64__)
// The sums of 16 vectors' lanes, one per lane of the result (lane i = the sum of a[i]'s lanes):
// pairs are combined by a transpose-and-add tree, 45 shuffles and adds for 16 sums where 16
// separate reductions take about 120.
__attribute__((target("avx512f"))) inline __m512 laneSums16(__m512* a) {
  // Within each 128-bit quarter: b[i] holds a[2i]'s and a[2i+1]'s lanes added in pairs, c[i] the quarter's
  // sums of a[4i..4i+3] in order.
  __m512 b[8], c[4], d[2];
  for (int i = 0; i < 8; ++i) b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
  for (int i = 0; i < 4; ++i)
    c[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(b[2 * i]), _mm512_castps_pd(b[2 * i + 1]))),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(b[2 * i]), _mm512_castps_pd(b[2 * i + 1]))));
  // c[i]'s quarter q holds a[4i..4i+3]'s sums over quarter q's lanes: add the quarters across vectors.
  for (int i = 0; i < 2; ++i)
    d[i] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0x88), _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0xDD));
  // d[i]'s quarters hold a[8i..8i+3] over quarters 0+1, then 2+3, and a[8i+4..8i+7] likewise: the last
  // step adds those halves, leaving lane l the sum of a[l].
  return _mm512_add_ps(_mm512_shuffle_f32x4(d[0], d[1], 0x88), _mm512_shuffle_f32x4(d[0], d[1], 0xDD));
}

// scores[r * ld + j] = scale * q_r . k_j for `rows` query rows and `keys` keys (D a multiple of 16),
// 16 keys at a time: their rows stay in L1 while every query row is multiplied by them.
__attribute__((target("avx512f,fma"))) void fewQueryScores512(const float* q, std::size_t rows, const float* k,
                                                              std::size_t keys, std::size_t D, float scale,
                                                              float* scores, std::size_t ld) {
  const __m512 s = _mm512_set1_ps(scale);
  std::size_t j = 0;
  for (; j + 16 <= keys; j += 16) {
    const float* kb = k + j * D;
    for (std::size_t r = 0; r < rows; ++r) {
      const float* qr = q + r * D;
      __m512 acc[16];
      for (int jj = 0; jj < 16; ++jj) acc[jj] = _mm512_mul_ps(_mm512_loadu_ps(qr), _mm512_loadu_ps(kb + jj * D));
      for (std::size_t d = 16; d < D; d += 16) {
        const __m512 qd = _mm512_loadu_ps(qr + d);
        for (int jj = 0; jj < 16; ++jj) acc[jj] = _mm512_fmadd_ps(qd, _mm512_loadu_ps(kb + jj * D + d), acc[jj]);
      }
      _mm512_storeu_ps(scores + r * ld + j, _mm512_mul_ps(s, laneSums16(acc)));
    }
  }
  for (; j < keys; ++j) {  // the last keys, fewer than 16
    const float* kj = k + j * D;
    for (std::size_t r = 0; r < rows; ++r) {
      const float* qr = q + r * D;
      __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(qr), _mm512_loadu_ps(kj));
      for (std::size_t d = 16; d < D; d += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(qr + d), _mm512_loadu_ps(kj + d), acc);
      scores[r * ld + j] = scale * _mm512_reduce_add_ps(acc);
    }
  }
}

// out_r = sum over j of p[r * ld + j] * v_j for RB rows and DV x 16 columns from `d0`, the sums in registers.
template <int RB, int DV>
__attribute__((target("avx512f,fma"))) inline void fewQueryValuesTile(const float* p, std::size_t ld, const float* v,
                                                                      std::size_t keys, std::size_t D, std::size_t d0,
                                                                      float* out) {
  __m512 acc[RB][DV];
  for (int r = 0; r < RB; ++r)
    for (int c = 0; c < DV; ++c) acc[r][c] = _mm512_setzero_ps();
  for (std::size_t j = 0; j < keys; ++j) {
    __m512 vj[DV];
    for (int c = 0; c < DV; ++c) vj[c] = _mm512_loadu_ps(v + j * D + d0 + 16 * c);
    for (int r = 0; r < RB; ++r) {
      const __m512 pj = _mm512_set1_ps(p[r * ld + j]);
      for (int c = 0; c < DV; ++c) acc[r][c] = _mm512_fmadd_ps(pj, vj[c], acc[r][c]);
    }
  }
  for (int r = 0; r < RB; ++r)
    for (int c = 0; c < DV; ++c) _mm512_storeu_ps(out + r * D + d0 + 16 * c, acc[r][c]);
}

template <int RB>
__attribute__((target("avx512f,fma"))) void fewQueryValuesRows(const float* p, std::size_t ld, const float* v,
                                                               std::size_t keys, std::size_t D, float* out) {
  std::size_t d0 = 0;
  for (; d0 + 64 <= D; d0 += 64) fewQueryValuesTile<RB, 4>(p, ld, v, keys, D, d0, out);
  switch ((D - d0) / 16) {
    case 3: fewQueryValuesTile<RB, 3>(p, ld, v, keys, D, d0, out); break;
    case 2: fewQueryValuesTile<RB, 2>(p, ld, v, keys, D, d0, out); break;
    case 1: fewQueryValuesTile<RB, 1>(p, ld, v, keys, D, d0, out); break;
    default: break;
  }
}

// out_r = sum over j of p[r * ld + j] * v_j (D a multiple of 16): four rows at a time, each value row
// read once per four query rows and 64 columns.
__attribute__((target("avx512f,fma"))) void fewQueryValues512(const float* p, std::size_t rows, std::size_t ld,
                                                              const float* v, std::size_t keys, std::size_t D,
                                                              float* out) {
  std::size_t r = 0;
  for (; r + 4 <= rows; r += 4) fewQueryValuesRows<4>(p + r * ld, ld, v, keys, D, out + r * D);
  switch (rows - r) {
    case 3: fewQueryValuesRows<3>(p + r * ld, ld, v, keys, D, out + r * D); break;
    case 2: fewQueryValuesRows<2>(p + r * ld, ld, v, keys, D, out + r * D); break;
    case 1: fewQueryValuesRows<1>(p + r * ld, ld, v, keys, D, out + r * D); break;
    default: break;
  }
}
#endif

void fewQueryScores(const float* q, std::size_t rows, const float* k, std::size_t keys, std::size_t D,
                    float scale, float* scores, std::size_t ld) {
#if defined(__x86_64__)
  if (cpuHasAvx512() && D % 16 == 0) return fewQueryScores512(q, rows, k, keys, D, scale, scores, ld);
#endif
  for (std::size_t j = 0; j < keys; ++j)
    for (std::size_t r = 0; r < rows; ++r) scores[r * ld + j] = scale * dotOf(q + r * D, k + j * D, D);
}

void fewQueryValues(const float* p, std::size_t rows, std::size_t ld, const float* v, std::size_t keys,
                    std::size_t D, float* out) {
#if defined(__x86_64__)
  if (cpuHasAvx512() && D % 16 == 0) return fewQueryValues512(p, rows, ld, v, keys, D, out);
#endif
  std::memset(out, 0, rows * D * sizeof(float));
  for (std::size_t j = 0; j < keys; ++j)
    for (std::size_t r = 0; r < rows; ++r) {
      const float pj = p[r * ld + j];
      for (std::size_t d = 0; d < D; ++d) out[r * D + d] += pj * v[j * D + d];
    }
}

// attentionForward for fewQueries shapes: one task per (batch, key/value head).
void attentionForwardFewQueries(const AttentionShape& s, const float* q, const float* k, const float* v,
                                const float* keyMask, float* out, float* lse) {
  const std::size_t group = s.H / s.Hkv, rows = group * s.T;
  // Keys [first, first + keys): those the earliest query's window starts at, up to the last query's position.
  const std::size_t first = firstVisibleKey(s, 0), keys = visibleKeys(s, s.T) - first;
  const bool bf16 = activeBf16Kernel() != nullptr;
  ThreadPool::instance().parallelFor(s.B * s.Hkv, [&](std::size_t task) {
    const std::size_t b = task / s.Hkv, hk = task % s.Hkv;
    const std::size_t row0 = (b * s.H + hk * group) * s.T;  // the group's first query row in q, out and lse
    const float* qg = q + row0 * s.D;
    const float* kh = k + ((b * s.Hkv + hk) * s.kvRows + first) * s.D;
    const float* vh = v + ((b * s.Hkv + hk) * s.kvRows + first) * s.D;
    float* og = out + row0 * s.D;
    thread_local std::vector<float> scores, qRounded, kRounded, vRounded;
    if (bf16) {
      qg = roundedToBf16(qg, rows * s.D, qRounded);
      kh = roundedToBf16(kh, keys * s.D, kRounded);
      vh = roundedToBf16(vh, keys * s.D, vRounded);
    }
    scores.resize(rows * keys);
    fewQueryScores(qg, rows, kh, keys, s.D, s.scale, scores.data(), keys);
    if (s.softcap > 0.0f) softcapScores(s.softcap, scores.data(), rows * keys, nullptr);
    for (std::size_t r = 0; r < rows; ++r) {
      float* row = scores.data() + r * keys;
      const std::size_t seen = keys == 0 ? 0 : maskRow(s, keyMask, b, r % s.T, first, first + keys, row);
      const float mx = seen == 0 ? -INFINITY : rowMax(row, seen);
      if (mx == -INFINITY) {  // nothing visible: the output row is zero
        std::fill(row, row + keys, 0.0f);
        lse[row0 + r] = -INFINITY;
        continue;
      }
      const float sum = expShifted(row, mx, row, seen);
      const float inv = 1.0f / sum;
      for (std::size_t j = 0; j < seen; ++j) row[j] *= inv;
      std::fill(row + seen, row + keys, 0.0f);
      lse[row0 + r] = mx + std::log(sum);
    }
    if (s.drop) dropProbabilities(s, scores.data(), scores.data(), rows, keys, keys, row0, first);
    if (bf16) roundedToBf16(scores.data(), rows * keys, scores);  // in place: the probabilities as the GEMM packs them
    fewQueryValues(scores.data(), rows, keys, vh, keys, s.D, og);
  });
}

}  // namespace

void attentionForward(const AttentionShape& s, const float* q, const float* k, const float* v,
                      const float* keyMask, float* out, float* lse) {
  if (fewQueries(s)) return attentionForwardFewQueries(s, q, k, v, keyMask, out, lse);
  const std::size_t group = s.H / s.Hkv;
  const std::size_t heads = s.B * s.H;
  const std::size_t blocks = (s.T + kQueryBlock - 1) / kQueryBlock;
  const KernelInfo& ki = productKernel();
  // The scores multiply K^T (the S keys as columns), the output V (the S keys as depth). The tasks
  // run on the pool's threads, so they reach this thread's panels through these references.
  HeadPanels& keyColumns = callPanels[0];
  HeadPanels& valueDepth = callPanels[1];
  keyColumns.pack(s, k, Rows::AsColumns, ki);
  valueDepth.pack(s, v, Rows::AsDepth, ki);
  // One task per (head, query block); the latest (longest) blocks are handed out first.
  ThreadPool::instance().parallelFor(heads * blocks, [&](std::size_t task) {
    const std::size_t blk = blocks - 1 - task / heads, head = task % heads;
    const std::size_t b = head / s.H, h = head % s.H, hk = h / group;
    const std::size_t t0 = blk * kQueryBlock, t1 = std::min(s.T, t0 + kQueryBlock), rows = t1 - t0;
    // This block multiplies keys [first, first + keys).
    const std::size_t first = firstVisibleKey(s, t0), keys = visibleKeys(s, t1) - first;
    const float* qb = q + (head * s.T + t0) * s.D;
    const std::size_t kvHead = b * s.Hkv + hk;
    const float* kh = k + (kvHead * s.kvRows + first) * s.D;
    const float* vh = v + (kvHead * s.kvRows + first) * s.D;
    float* ob = out + (head * s.T + t0) * s.D;
    if (keys == 0) {  // no keys at all: every output row is zero
      std::memset(ob, 0, rows * s.D * sizeof(float));
      for (std::size_t t = t0; t < t1; ++t) lse[head * s.T + t] = -INFINITY;
      return;
    }
    thread_local std::vector<float> scores;
    scores.resize(rows * keys);
    // scores = scale * Q K^T over keys [first, first + keys)
    gemmSerialPackedB(product(false, true, rows, keys, s.D, qb, s.D, kh, s.D, 0.0f, scores.data(), keys, s.scale), ki, keyColumns[kvHead], 0, first);
    if (s.softcap > 0.0f) softcapScores(s.softcap, scores.data(), rows * keys, nullptr);
    for (std::size_t t = t0; t < t1; ++t) {
      float* row = scores.data() + (t - t0) * keys;
      const std::size_t seen = maskRow(s, keyMask, b, t, first, first + keys, row);
      const float mx = rowMax(row, seen);
      if (mx == -INFINITY) {  // nothing visible: the output row is zero
        for (std::size_t j = 0; j < keys; ++j) row[j] = 0.0f;
        lse[head * s.T + t] = -INFINITY;
        continue;
      }
      const float sum = expShifted(row, mx, row, seen);
      const float inv = 1.0f / sum;
      for (std::size_t j = 0; j < seen; ++j) row[j] *= inv;
      for (std::size_t j = seen; j < keys; ++j) row[j] = 0.0f;
      lse[head * s.T + t] = mx + std::log(sum);
    }
    if (s.drop) dropProbabilities(s, scores.data(), scores.data(), rows, keys, keys, head * s.T + t0, first);
    gemmSerialPackedB(product(false, false, rows, s.D, keys, scores.data(), keys, vh, s.D, 0.0f, ob, s.D), ki, valueDepth[kvHead], first, 0);
  });
}

namespace {

// One row of dS over dP: dp[j] = p[j] * (dp[j] - di) * scale (times capGrad[j] when the scores are
// soft-capped). The build's baseline is SSE2, where this loop took 9% of the attention backward.
#if defined(__x86_64__)
__attribute__((target("avx512f"))) void scoreGradRow512(const float* p, float di, float scale, const float* capGrad,
                                                        float* dp, std::size_t n) {
  const __m512 d = _mm512_set1_ps(di), sc = _mm512_set1_ps(scale);
  std::size_t j = 0;
  for (; j < n; j += 16) {
    const __mmask16 m = n - j >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - j)) - 1);
    __m512 g = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, p + j), _mm512_sub_ps(_mm512_maskz_loadu_ps(m, dp + j), d)), sc);
    if (capGrad) g = _mm512_mul_ps(g, _mm512_maskz_loadu_ps(m, capGrad + j));
    _mm512_mask_storeu_ps(dp + j, m, g);
  }
}
#endif

void scoreGradRow(const float* p, float di, float scale, const float* capGrad, float* dp, std::size_t n) {
#if defined(__x86_64__)
  if (cpuHasAvx512()) return scoreGradRow512(p, di, scale, capGrad, dp, n);
#endif
  for (std::size_t j = 0; j < n; ++j) dp[j] = p[j] * (dp[j] - di) * scale;
  if (capGrad)
    for (std::size_t j = 0; j < n; ++j) dp[j] *= capGrad[j];
}

// dst[i] = 0 + slot 0's [i] + slot 1's [i] + ... for `count` slots of n floats one after another,
// in that order (so -0 sums as the reference's loop sums it). The build's baseline is SSE2, where
// this sum took 3% of the attention backward.
#if defined(__x86_64__)
__attribute__((target("avx512f"))) void sumOfSlots512(const float* slots, std::size_t count, std::size_t n, float* dst) {
  std::size_t i = 0;
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 acc = _mm512_setzero_ps();
    for (std::size_t g = 0; g < count; ++g) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, slots + g * n + i));
    _mm512_mask_storeu_ps(dst + i, m, acc);
  }
}
#endif

void sumOfSlots(const float* slots, std::size_t count, std::size_t n, float* dst) {
#if defined(__x86_64__)
  if (cpuHasAvx512()) return sumOfSlots512(slots, count, n, dst);
#endif
  std::memset(dst, 0, n * sizeof(float));
  for (std::size_t g = 0; g < count; ++g)
    for (std::size_t i = 0; i < n; ++i) dst[i] += slots[g * n + i];
}

// NaN in the gradient as products over every key spread it (PyTorch's math and the ref backend): a
// query row whose probabilities are NaN (a NaN score) or whose rowsum(dO * O) is NaN reaches every key
// of its key/value head in dK (and, for NaN probabilities, in dV), masked keys too (0 * NaN), and a NaN
// in dO reaches every key's dV in its column. The blocks of attentionBackward skip masked keys, which
// keeps their gradient finite; this marks them for the rows of batch b that read key/value head hk.
void spreadNaN(const AttentionShape& s, std::size_t b, std::size_t hk, const float* out, const float* lse,
               const float* dout, float* dk, float* dv) {
  const std::size_t group = s.H / s.Hkv;
  bool dkAll = false, dvAll = false;
  thread_local std::vector<char> dvColumn;
  dvColumn.assign(s.D, 0);
  bool anyColumn = false;
  for (std::size_t g = 0; g < group; ++g) {
    for (std::size_t t = 0; t < s.T; ++t) {
      const std::size_t row = (b * s.H + hk * group + g) * s.T + t;
      if (std::isnan(lse[row])) dkAll = dvAll = true;
      const float* gr = dout + row * s.D;
      // A NaN in the row of dO makes this sum NaN (NaN times anything is NaN), so a finite sum
      // leaves its columns unread: the scan below ran over every value of dO, for every layer.
      if (!std::isnan(dotOf(gr, out + row * s.D, s.D))) continue;
      dkAll = true;
      for (std::size_t d = 0; d < s.D; ++d)
        if (std::isnan(gr[d])) dvColumn[d] = anyColumn = true;
    }
  }
  const std::size_t values = s.S * s.D;
  if (dk && dkAll) std::fill(dk, dk + values, NAN);
  if (!dv) return;
  if (dvAll) std::fill(dv, dv + values, NAN);
  else if (anyColumn)
    for (std::size_t j = 0; j < s.S; ++j)
      for (std::size_t d = 0; d < s.D; ++d)
        if (dvColumn[d]) dv[j * s.D + d] = NAN;
}

}  // namespace

void attentionBackward(const AttentionShape& s, const float* q, const float* k, const float* v,
                       const float* keyMask, const float* out, const float* lse,
                       const float* dout, float* dq, float* dk, float* dv) {
  const std::size_t group = s.H / s.Hkv;
  const std::size_t headKV = s.S * s.D;
  const std::size_t blocks = (s.T + kQueryBlock - 1) / kQueryBlock;
  // Each query head writes its share of dK and dV into its own slot; slots of one key/value
  // head are summed afterwards, so tasks never write the same memory. The slots need no zeroing
  // (each head's last block writes all of its rows with beta 0) and are kept between calls: a
  // fresh 2 x 2.4 MB per call (SmolLM2, batch 4 x 256) cost page faults on every layer.
  thread_local std::vector<float> dkSlots, dvSlots;
  if (dk && dkSlots.size() < s.B * s.H * headKV) dkSlots.resize(s.B * s.H * headKV);
  if (dv && dvSlots.size() < s.B * s.H * headKV) dvSlots.resize(s.B * s.H * headKV);
  // The tasks below run on the pool's threads, where the names above would mean those threads' own
  // (empty) vectors: they reach the caller's through these references.
  std::vector<float>& dkHeads = dkSlots;
  std::vector<float>& dvHeads = dvSlots;
  const KernelInfo& ki = productKernel();
  // The scores multiply K^T (the keys as columns), dQ = dS K multiplies K (the keys as depth), and
  // dP = dO V^T multiplies V^T: each packed once for every block and query head that reads it.
  HeadPanels& keyColumns = callPanels[0];
  HeadPanels& keyDepth = callPanels[1];
  HeadPanels& valueColumns = callPanels[2];
  keyColumns.pack(s, k, Rows::AsColumns, ki);
  if (dq) keyDepth.pack(s, k, Rows::AsDepth, ki);
  if (dq || dk) valueColumns.pack(s, v, Rows::AsColumns, ki);
  ThreadPool::instance().parallelFor(s.B * s.H, [&](std::size_t task) {
    const std::size_t b = task / s.H, h = task % s.H, kvHead = b * s.Hkv + h / group;
    const float* kh = k + kvHead * headKV;
    const float* vh = v + kvHead * headKV;
    float* dkh = dk ? dkHeads.data() + task * headKV : nullptr;
    float* dvh = dv ? dvHeads.data() + task * headKV : nullptr;
    thread_local std::vector<float> probs, dprobs, capGrads, dropped;
    // Without a window the last block sees the most keys (all S): it runs first and overwrites
    // (beta 0) every row of this head's dK and dV slots; earlier blocks add to the rows they see.
    // A window hides the first keys from the last block, so the slots are zeroed first instead.
    if (s.window) {
      if (dkh) std::memset(dkh, 0, headKV * sizeof(float));
      if (dvh) std::memset(dvh, 0, headKV * sizeof(float));
    }
    for (std::size_t blk = blocks; blk-- > 0;) {
      const std::size_t t0 = blk * kQueryBlock, t1 = std::min(s.T, t0 + kQueryBlock), rows = t1 - t0;
      // This block multiplies keys [first, first + keys).
      const std::size_t first = firstVisibleKey(s, t0), keys = visibleKeys(s, t1) - first;
      const float beta = blk == blocks - 1 && !s.window ? 0.0f : 1.0f;
      const float* qb = q + (task * s.T + t0) * s.D;
      const float* ob = out + (task * s.T + t0) * s.D;
      const float* gb = dout + (task * s.T + t0) * s.D;
      if (keys == 0) {
        if (dq) std::memset(dq + (task * s.T + t0) * s.D, 0, rows * s.D * sizeof(float));
        continue;
      }
      probs.resize(rows * keys);
      dprobs.resize(rows * keys);
      float* P = probs.data();
      float* dP = dprobs.data();
      gemmSerialPackedB(product(false, true, rows, keys, s.D, qb, s.D, kh + first * s.D, s.D, 0.0f, P, keys, s.scale), ki, keyColumns[kvHead], 0, first);
      float* capGrad = nullptr;
      if (s.softcap > 0.0f) {
        capGrads.resize(rows * keys);
        capGrad = capGrads.data();
        softcapScores(s.softcap, P, rows * keys, capGrad);
      }
      for (std::size_t t = t0; t < t1; ++t) {
        const float l = lse[task * s.T + t];
        float* row = P + (t - t0) * keys;
        if (l == -INFINITY) {
          for (std::size_t j = 0; j < keys; ++j) row[j] = 0.0f;
          continue;
        }
        const std::size_t seen = maskRow(s, keyMask, b, t, first, first + keys, row);
        expShifted(row, l, row, seen);
        for (std::size_t j = seen; j < keys; ++j) row[j] = 0.0f;
      }
      // What weighed V in the forward: the probabilities, or under dropout the dropped ones (P m).
      const float* weights = P;
      if (s.drop) {
        dropped.resize(rows * keys);
        dropProbabilities(s, P, dropped.data(), rows, keys, keys, task * s.T + t0, first);
        weights = dropped.data();
      }
      if (dvh) gemmSerial(product(true, false, keys, s.D, rows, weights, keys, gb, s.D, beta, dvh + first * s.D, s.D), ki);
      if (!dq && !dkh) continue;
      // dP = dO V^T (under dropout times the mask: dP = m (dO V^T), while rowsum(dP * P) is still
      // rowsum(dO * O)), then dS = P * (dP - rowsum(dO * O)) * scale (times the cap's 1 - tanh^2), stored over dP.
      gemmSerialPackedB(product(false, true, rows, keys, s.D, gb, s.D, vh + first * s.D, s.D, 0.0f, dP, keys), ki, valueColumns[kvHead], 0, first);
      if (s.drop) dropProbabilities(s, dP, dP, rows, keys, keys, task * s.T + t0, first);
      for (std::size_t r = 0; r < rows; ++r)
        scoreGradRow(P + r * keys, dotOf(gb + r * s.D, ob + r * s.D, s.D), s.scale, capGrad ? capGrad + r * keys : nullptr, dP + r * keys, keys);
      if (dq) gemmSerialPackedB(product(false, false, rows, s.D, keys, dP, keys, kh + first * s.D, s.D, 0.0f, dq + (task * s.T + t0) * s.D, s.D), ki, keyDepth[kvHead], first, 0);
      if (dkh) gemmSerial(product(true, false, keys, s.D, rows, dP, keys, qb, s.D, beta, dkh + first * s.D, s.D), ki);
    }
  });
  ThreadPool::instance().parallelFor(s.B * s.Hkv, [&](std::size_t task) {
    const std::size_t b = task / s.Hkv, hk = task % s.Hkv;
    for (float* target : {dk, dv}) {
      if (!target) continue;
      const std::vector<float>& heads = target == dk ? dkHeads : dvHeads;
      float* dst = target + task * headKV;
      if (blocks == 0) {  // no queries: no gradient reaches the keys
        std::memset(dst, 0, headKV * sizeof(float));
        continue;
      }
      sumOfSlots(heads.data() + (b * s.H + hk * group) * headKV, group, headKV, dst);
    }
    spreadNaN(s, b, hk, out, lse, dout, dk ? dk + task * headKV : nullptr, dv ? dv + task * headKV : nullptr);
  });
}

}  // namespace giftjs

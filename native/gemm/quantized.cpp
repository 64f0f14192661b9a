// Quantized matrices: the quantizer, the one dequantizer, and the dot product the few-rows GEMM
// (decoding) uses. See quantized.h for the formats.
//
// The quantizer's float arithmetic must round as src/tensor/quantized.ts rounds (x * id, then
// + 8.5, each rounded to float32), so contraction into a fused multiply-add is off in this file.
#pragma GCC optimize("fp-contract=off")
#include "quantized.h"

#include "gemm.h"  // widenBf16

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../runtime/cpu_features.h"
#if defined(__x86_64__)
#define GIFTJS_QUANT_X86 1
#include <immintrin.h>
#endif

namespace giftjs {

float widenF16(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, frac = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (frac == 0) {
      bits = sign;
    } else {  // subnormal: frac * 2^-24, exact in float32
      const float v = static_cast<float>(frac) * 5.9604644775390625e-8f;
      std::memcpy(&bits, &v, sizeof bits);
      bits |= sign;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (frac << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (frac << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

namespace {

// float32 -> half-precision bits, round to nearest even; overflow gives infinity (as
// float32ToFloat16 in src/tensor/dtype.ts).
uint16_t narrowF16(float value) {
  uint32_t x;
  std::memcpy(&x, &value, sizeof x);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0u));
  int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - e;
    const uint32_t half = 1u << (shift - 1);
    uint32_t r = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    if (rem > half || (rem == half && (r & 1u))) r++;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = mant >> 13;
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) {
    r++;
    if (r == 0x400u) {
      r = 0;
      e++;
      if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
    }
  }
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(e) << 10) | r);
}

inline int codeAt(const QuantizedMatrix& w, const uint8_t* row, std::size_t c) {
  const uint8_t* block = w.blockCodes(row, c / 32);
  if (w.bits == 8) return static_cast<int8_t>(block[c % 32]);
  const uint8_t byte = block[c % 16];
  return ((c % 32) < 16 ? (byte & 0x0f) : (byte >> 4)) - 8;
}

// Half i of a float16 row (the codes' bytes need not be 2-aligned).
inline uint16_t halfAt(const uint8_t* row, std::size_t i) {
  uint16_t h;
  std::memcpy(&h, row + 2 * i, sizeof h);
  return h;
}

void dequantizeRowPortable(const QuantizedMatrix& w, std::size_t r, std::size_t c0, std::size_t n, float* out) {
  const uint8_t* row = w.rowCodes(r);
  if (w.bits == 16) {
    for (std::size_t i = 0; i < n; ++i) out[i] = widenF16(halfAt(row, c0 + i));
    return;
  }
  const uint16_t* scales = w.rowScales(r);
  const std::size_t stride = w.scaleStride();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = c0 + i;
    out[i] = static_cast<float>(codeAt(w, row, c)) * widenF16(scales[w.groupOf(c) * stride]);
  }
}

float dotPortable(const float* a, const QuantizedMatrix& w, std::size_t r) {
  const uint8_t* row = w.rowCodes(r);
  if (w.bits == 16) {
    float s = 0.0f;
    for (std::size_t c = 0; c < w.cols; ++c) s += a[c] * widenF16(halfAt(row, c));
    return s;
  }
  float total = 0.0f;
  for (std::size_t g0 = 0; g0 < w.cols; g0 += w.group) {
    const std::size_t g1 = std::min(w.cols, g0 + w.group);
    float s = 0.0f;
    for (std::size_t c = g0; c < g1; ++c) s += a[c] * static_cast<float>(codeAt(w, row, c));
    total += s * widenF16(w.scaleBits(r, w.groupOf(g0)));
  }
  return total;
}

float dotInt8ActivationsPortable(const Int8Activations& x, const QuantizedMatrix& w, std::size_t r) {
  const uint8_t* row = w.rowCodes(r);
  float total = 0.0f;
  for (std::size_t b = 0; b < w.cols / 32; ++b) {
    int sum = 0;  // at most 32 * 127 * 127: exact
    for (std::size_t i = 0; i < 32; ++i) sum += codeAt(w, row, b * 32 + i) * x.codes[b * 32 + i];
    total += widenF16(w.scaleBits(r, w.groupOf(b * 32))) * x.d[b] * static_cast<float>(sum);
  }
  return total;
}

#ifdef GIFTJS_QUANT_X86
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")

inline __mmask16 lanes(std::size_t n) { return static_cast<__mmask16>((1u << std::min<std::size_t>(n, 16)) - 1); }

// 16 codes of W's row from column c (c % 16 == 0 for 4 bits; `count` <= 16 valid) as floats.
inline __m512 codes16(const QuantizedMatrix& w, const uint8_t* row, std::size_t c, std::size_t count) {
  const uint8_t* block = w.blockCodes(row, c / 32);
  if (w.bits == 8) return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(lanes(count), block + c % 32)));
  const __m512i bytes = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(lanes(count), block));
  const __m512i nibbles = (c % 32) < 16 ? _mm512_and_si512(bytes, _mm512_set1_epi32(0x0f)) : _mm512_srli_epi32(bytes, 4);
  return _mm512_cvtepi32_ps(_mm512_sub_epi32(nibbles, _mm512_set1_epi32(8)));
}

// Scales b .. b + 15 of a row (m: the first n lanes; lanes past them zero) as 16 halves: one load when
// they are contiguous; interleaved Q4_0 blocks' by word permutes; interleaved Q8_0 blocks' by one
// gather of the 32-bit words at each d (a block's d and its first code byte, which stay inside the
// block) narrowed to their low halves.
inline __m256i scales16(const QuantizedMatrix& w, const uint16_t* rowScales, std::size_t b, __mmask16 m) {
  if (!w.interleaved) return _mm256_maskz_loadu_epi16(m, rowScales + b);
  if (w.bits == 4) {
    // Q4_0's d's are 9 words apart: d 0-7 within the first 64 words, d 8-15 within the 64 from word 72,
    // so four loads of the blocks' own words and two word permutes gather them (the gather below cost
    // decoding's float products over GGUF blocks 20-45% against the split layout).
    const uint16_t* start = rowScales + b * w.scaleStride();
    const std::size_t words = 9 * static_cast<std::size_t>(__builtin_popcount(m));  // the m blocks' words
    const auto load = [&](std::size_t from) {
      const std::size_t n = words > from ? std::min<std::size_t>(32, words - from) : 0;
      if (n == 32) return _mm512_loadu_si512(start + from);
      return _mm512_maskz_loadu_epi16(static_cast<__mmask32>((1u << n) - 1), start + from);
    };
    // Words 0-7 and again 8-15 of the index: 0, 9, ..., 63 (d 0-7 of two sources 64 words long).
    const __m512i nineApart = _mm512_setr_epi32(0x00090000, 0x001b0012, 0x002d0024, 0x003f0036, 0x00090000, 0x001b0012, 0x002d0024,
                                                0x003f0036, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i low = _mm512_permutex2var_epi16(load(0), nineApart, load(32));     // d 0-7 in words 0-7
    const __m512i high = _mm512_permutex2var_epi16(load(72), nineApart, load(104));  // d 8-15 in words 8-15
    return _mm512_castsi512_si256(_mm512_mask_blend_epi16(0xff00u, low, high));
  }
  const __m512i offsets = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(static_cast<int>(w.blockBytes())));
  const __m512i words = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, offsets, rowScales + b * w.scaleStride(), 1);
  return _mm512_cvtepi32_epi16(words);
}

// How far ahead of its loads a row's dot product asks for the row's code bytes (a prefetch never
// faults, past the matrix's end too). Measured on the Q4_0 x Q8_0 kernel: a GEMV from memory went
// from ~0.53 to ~0.47 ms with it (512 B or 2-4 KB ahead did less).
constexpr std::size_t kCodesAheadBytes = 1024;

// Scales kept apart from the codes (a matrix giftjs quantized) are a stream of their own, which the
// hardware prefetchers left behind: their loads took a quarter of the Q4_0 x Q8_0 kernel's time (perf,
// 8192 x 2048 from memory, one thread). Asked for as many blocks ahead as the codes are, that GEMV
// took 456-469 us instead of 514-549 (one thread, alternating builds; 2048 x 8192: 392-406 against
// 472-510). Q8_0 x Q8_0, whose codes are twice as long, measured no faster with it, so it goes without.
// An interleaved matrix's d's are among its codes, already asked for: asking again costs one prefetch
// per 16 blocks. (Under an `if (!w.interleaved)`, GCC 12 dropped the prefetch from the build.)
inline void prefetchScalesAhead(const QuantizedMatrix& w, const uint16_t* rowScales, std::size_t b) {
  const std::size_t blocksAhead = kCodesAheadBytes * 8 / (32 * static_cast<std::size_t>(w.bits));
  _mm_prefetch(reinterpret_cast<const char*>(rowScales + (b + blocksAhead) * w.scaleStride()), _MM_HINT_T0);
}

// 16 halves (`count` <= 16 valid, the rest zero) of a float16 row from column c as floats (vcvtph2ps: exact).
inline __m512 halves16(const uint8_t* row, std::size_t c, std::size_t count) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes(count), row + 2 * c));
}

void dequantizeRowAvx512(const QuantizedMatrix& w, std::size_t r, std::size_t c0, std::size_t n, float* out) {
  const uint8_t* row = w.rowCodes(r);
  if (w.bits == 16) {
    for (std::size_t i = 0; i < n; i += 16) {
      const std::size_t count = std::min<std::size_t>(16, n - i);
      _mm512_mask_storeu_ps(out + i, lanes(count), halves16(row, c0 + i, count));
    }
    return;
  }
  std::size_t c = c0;
  const std::size_t end = c0 + n;
  // 4-bit codes are read 16 at a time from a multiple of 16 (one nibble of 16 bytes): the head up to one is done singly.
  if (w.bits == 4) {
    const std::size_t head = std::min(end, (c0 + 15) / 16 * 16);
    dequantizeRowPortable(w, r, c0, head - c0, out);
    c = head;
  }
  // Whole blocks of 32 from a block's start: two vectors each, without masks (a short prompt's rows,
  // dequantized four at a time, spent as long here as in their products through codes16's masked loads).
  // The row's codes and scales are found once, not per block as dequantize32Avx512 finds them (that took
  // a 16-token prompt's float products over the 1B shape's Q4_0 layers from 140-156 to 168-180 ms).
  if (c % 32 == 0 && w.group % 32 == 0) {
    const uint16_t* scales = w.rowScales(r);
    const std::size_t stride = w.scaleStride(), blockBytes = w.blockBytes();
    for (; c + 32 <= end; c += 32) {
      __m512 lo, hi;
      dequantizeBlockAvx512(w.bits, row + c / 32 * blockBytes, _mm512_set1_ps(_cvtsh_ss(scales[w.groupOf(c) * stride])), lo, hi);
      _mm512_storeu_ps(out + (c - c0), lo);
      _mm512_storeu_ps(out + (c - c0) + 16, hi);
    }
  }
  while (c < end) {
    const std::size_t g = w.groupOf(c), groupEnd = std::min(end, (g + 1) * w.group);
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(w.scaleBits(r, g)));
    // Steps of 16 from wherever c0 falls (a K slice may start inside a group): the last is short.
    while (c < groupEnd) {
      const std::size_t count = std::min<std::size_t>(16, groupEnd - c);
      _mm512_mask_storeu_ps(out + (c - c0), lanes(count), _mm512_mul_ps(codes16(w, row, c, count), d));
      c += count;
    }
  }
}

// Rows r, r + apart, ..., r + (R - 1) apart of W: their codes and their scales, for the kernels that
// read R rows at once.
template <int R>
inline void rowsApart(const QuantizedMatrix& w, std::size_t r, std::size_t apart, const uint8_t* rows[R], const uint16_t* scales[R]) {
  for (int i = 0; i < R; ++i) {
    rows[i] = w.rowCodes(r + i * apart);
    scales[i] = w.rowScales(r + i * apart);
  }
}

// The permute index that gives lane l of a group of four blocks the d of its block l / 4, from the
// 16 blocks' d's in one vector; adding 4 moves it to the next group.
inline __m512i firstGroupPick() { return _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3); }

// Q8_0 rows (groups of 32, whole blocks) against a float row: R rows at once (r, r + apart, ...; their
// results to out[0], out[apart], ...), their code streams read side by side and each of a's loads
// serving all R. Sixteen blocks' d's are widened at once and each broadcast from memory. Each row's
// products and sums are the same whatever R (even blocks into one accumulator, odd into the other), so
// a row's result is the same bits read alone or beside another. (Q8_0 rows had taken the per-group
// loop in dotAvx512: a scalar d and one chain of additions per row, no prefetch; a GEMV of them read
// 9-14 GB/s at 2 threads where int8 per output channel read 26-40.) Q4_0 rows have their own kernel,
// dotNibbleOrderedRowsOf below.
template <int R>
void dotQ8BlockRows(const float* a, const QuantizedMatrix& w, std::size_t r, std::size_t apart, float* out) {
  const uint8_t* rows[R];
  const uint16_t* scales[R];
  rowsApart<R>(w, r, apart, rows, scales);
  __m512 acc[R][2];
  for (int k = 0; k < R; ++k) acc[k][0] = acc[k][1] = _mm512_setzero_ps();
  alignas(64) float d[R][16];
  // Block b (the i-th of its sixteen) of every row into accumulator `slot`.
  const auto block = [&](std::size_t b, std::size_t i, int slot) {
    const __m512 aLow = _mm512_loadu_ps(a + b * 32), aHigh = _mm512_loadu_ps(a + b * 32 + 16);
    for (int k = 0; k < R; ++k) {
      const uint8_t* codes = w.blockCodes(rows[k], b);
      _mm_prefetch(reinterpret_cast<const char*>(codes + kCodesAheadBytes), _MM_HINT_T0);
      const __m512 low = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes))));
      const __m512 high = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + 16))));
      const __m512 sum = _mm512_fmadd_ps(aHigh, high, _mm512_mul_ps(aLow, low));
      acc[k][slot] = _mm512_fmadd_ps(sum, _mm512_set1_ps(d[k][i]), acc[k][slot]);
    }
  };
  const std::size_t blocks = w.cols / 32;
  for (std::size_t b0 = 0; b0 < blocks; b0 += 16) {
    const std::size_t n = std::min<std::size_t>(16, blocks - b0);
    // (No prefetch of the scales: see prefetchScalesAhead.)
    for (int k = 0; k < R; ++k) _mm512_store_ps(d[k], _mm512_cvtph_ps(scales16(w, scales[k], b0, lanes(n))));
    std::size_t i = 0;
    for (; i + 2 <= n; i += 2) {
      block(b0 + i, i, 0);
      block(b0 + i + 1, i + 1, 1);
    }
    if (i < n) block(b0 + i, i, 0);
  }
  for (int k = 0; k < R; ++k) out[k * apart] = _mm512_reduce_add_ps(_mm512_add_ps(acc[k][0], acc[k][1]));
}

// 16 values of a row of whole values (float16 halves, or int8 codes) from column c as floats.
template <int Bits>
inline __m512 wholeValues16(const uint8_t* row, std::size_t c) {
  if constexpr (Bits == 16) return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * c)));
  else return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + c))));
}

// Rows of whole values (Bits 16: float16 halves, a float16 checkpoint's matrices and a GGUF's K-quants,
// which giftjs holds as float16; Bits 8: int8 with one scale a row, --quantize int8 per output channel)
// against a float row, R at once (r, r + apart, ...; results to out[0], out[apart], ...): a's loads
// serve all R rows, R streams in flight, each asked for 1024 values ahead (2 KB of halves, as far as
// the bf16 rows' kRowAheadBytes in gemm.cpp; 1 KB of int8). Each row's products and sums are the same
// whatever R (values 0-15 of every 32 into one accumulator, 16-31 into the other, a short tail into
// the first, an int8 row's one scale applied last as the per-group loop below applies it), so a row's
// result is the same bits read alone or beside another. (One row at a time without a prefetch, a
// 2048 x 8192 GEMV took 1.3-2x the time of its bf16 twin in float16, and read 10-14 GB/s on one
// thread in int8 where 8192 x 2048 read 24-25.)
template <int R, int Bits>
void dotWholeValueRows(const float* a, const QuantizedMatrix& w, std::size_t r, std::size_t apart, float* out) {
  constexpr std::size_t kValueBytes = Bits / 8, kAheadBytes = 1024 * kValueBytes;
  const uint8_t* rows[R];
  for (int k = 0; k < R; ++k) rows[k] = w.rowCodes(r + k * apart);
  __m512 acc[R][2];
  for (int k = 0; k < R; ++k) acc[k][0] = acc[k][1] = _mm512_setzero_ps();
  std::size_t c = 0;
  for (; c + 32 <= w.cols; c += 32) {
    const __m512 aLow = _mm512_loadu_ps(a + c), aHigh = _mm512_loadu_ps(a + c + 16);
    for (int k = 0; k < R; ++k) {
      _mm_prefetch(reinterpret_cast<const char*>(rows[k] + kValueBytes * c + kAheadBytes), _MM_HINT_T0);
      acc[k][0] = _mm512_fmadd_ps(aLow, wholeValues16<Bits>(rows[k], c), acc[k][0]);
      acc[k][1] = _mm512_fmadd_ps(aHigh, wholeValues16<Bits>(rows[k], c + 16), acc[k][1]);
    }
  }
  for (; c < w.cols; c += 16) {
    const std::size_t count = std::min<std::size_t>(16, w.cols - c);
    const __m512 x = _mm512_maskz_loadu_ps(lanes(count), a + c);
    for (int k = 0; k < R; ++k) acc[k][0] = _mm512_fmadd_ps(x, Bits == 16 ? halves16(rows[k], c, count) : codes16(w, rows[k], c, count), acc[k][0]);
  }
  for (int k = 0; k < R; ++k) {
    __m512 sum = _mm512_add_ps(acc[k][0], acc[k][1]);
    if constexpr (Bits == 8) sum = _mm512_fmadd_ps(sum, _mm512_set1_ps(widenF16(w.scaleBits(r + k * apart, 0))), _mm512_setzero_ps());
    out[k * apart] = _mm512_reduce_add_ps(sum);
  }
}

// The kernel that reads R rows of W at once from the row as given, or null where W takes the per-group
// loop of dotAvx512 (groups other than a row's or 32 values, or blocks of 32 that do not fill the row)
// or, Q4_0 blocks, the kernel over the row in nibble order (nibbleOrderFits). dotAvx512 and
// dotQuantizedRows both choose here, so a row reads the same kernel alone or beside another.
template <int R>
using RowsKernel = void (*)(const float* a, const QuantizedMatrix& w, std::size_t r, std::size_t apart, float* out);
template <int R>
RowsKernel<R> rowsKernelFor(const QuantizedMatrix& w) {
  if (w.bits == 16) return dotWholeValueRows<R, 16>;
  if (w.bits == 8 && w.group == 32 && w.cols % 32 == 0) return dotQ8BlockRows<R>;
  if (w.bits == 8 && w.group >= w.cols) return dotWholeValueRows<R, 8>;
  return nullptr;
}

float dotAvx512(const float* a, const QuantizedMatrix& w, std::size_t r) {
  if (const RowsKernel<1> kernel = rowsKernelFor<1>(w)) {
    float out[1];
    kernel(a, w, r, 1, out);
    return out[0];
  }
  const uint8_t* row = w.rowCodes(r);
  const uint16_t* scales = w.rowScales(r);
  __m512 total = _mm512_setzero_ps();
  for (std::size_t g0 = 0; g0 < w.cols; g0 += w.group) {
    const std::size_t g1 = std::min(w.cols, g0 + w.group);
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    std::size_t c = g0;
    for (; c + 32 <= g1; c += 32) {
      s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + c), codes16(w, row, c, 16), s0);
      s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + c + 16), codes16(w, row, c + 16, 16), s1);
    }
    for (; c < g1; c += 16) {
      const std::size_t count = std::min<std::size_t>(16, g1 - c);
      s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(lanes(count), a + c), codes16(w, row, c, count), s0);
    }
    total = _mm512_fmadd_ps(_mm512_add_ps(s0, s1), _mm512_set1_ps(widenF16(scales[w.groupOf(g0) * w.scaleStride()])), total);
  }
  return _mm512_reduce_add_ps(total);
}

// The 64 code bytes of 4-bit blocks k .. k + 3 of a row (n < 4: only the first n blocks', the rest
// zero), block j's 16 in bytes 16j .. 16j + 15: one load when blocks are contiguous, else four.
inline __m512i fourBlocks(const QuantizedMatrix& w, const uint8_t* row, std::size_t k, std::size_t n) {
  if (!w.interleaved) return n == 4 ? _mm512_loadu_si512(row + k * 16) : _mm512_maskz_loadu_epi8((1ull << (16 * n)) - 1, row + k * 16);
  const auto block = [&](std::size_t j) { return j < n ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.blockCodes(row, k + j))) : _mm_setzero_si128(); };
  const __m256i low = _mm256_inserti128_si256(_mm256_castsi128_si256(block(0)), block(1), 1);
  const __m256i high = _mm256_inserti128_si256(_mm256_castsi128_si256(block(2)), block(3), 1);
  return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
}

// The 64 code bytes of 8-bit blocks b and b + 1 of a row (pair false: block b's, the rest zero).
inline __m512i twoBlocks(const QuantizedMatrix& w, const uint8_t* row, std::size_t b, bool pair) {
  if (!w.interleaved) return _mm512_maskz_loadu_epi8(pair ? ~0ull : 0xffffffffull, row + b * 32);
  const __m256i first = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.blockCodes(row, b)));
  const __m256i second = pair ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.blockCodes(row, b + 1))) : _mm256_setzero_si256();
  return _mm512_inserti64x4(_mm512_castsi256_si512(first), second, 1);
}

// An interleaved row's group of n <= 4 blocks from block k (GGUF's layout: 18 bytes a block, its half d
// then its 16 code bytes) read in two loads of the group's own bytes: the 64 code bytes in block order
// (block j's in bytes 16j .. 16j + 15, as fourBlocks gives them), and, lane l of `dW`, the d of block
// l / 4 widened (zero past n). Every offset is even, so word permutes (AVX-512 BW) do the gathering.
// Four 128-bit loads and inserts per group, and a gather of sixteen d's, had made these GEMVs take
// 20-70% longer than over the split layout (one thread, from memory).
inline __m512i interleavedGroup(const QuantizedMatrix& w, const uint8_t* row, std::size_t k, std::size_t n, __m512& dW) {
  const uint8_t* start = w.blockCodes(row, k) - 2;  // block k's d
  // A whole group is read as its first 64 bytes and its last 16 (bytes 56-71), nothing past its own
  // bytes; a short last group (blocks % 4 != 0) through a masked load of its bytes.
  __m512i first, last;
  if (n == 4) {
    first = _mm512_loadu_si512(start);
    last = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(start + 56)));
  } else {
    const std::size_t bytes = 18 * n;  // < 64
    first = _mm512_maskz_loadu_epi8((1ull << bytes) - 1, start);
    last = _mm512_setzero_si512();
  }
  // Word 8j + i of the codes is word 9j + 1 + i of the group's bytes (block 3's, words 28-35, from
  // `last`, whose word 0 is word 28: index 32 + 0-7); lane l's d is word 9 (l / 4).
  const __m512i codeWords = _mm512_setr_epi32(0x00020001, 0x00040003, 0x00060005, 0x00080007, 0x000b000a, 0x000d000c, 0x000f000e, 0x00110010,
                                              0x00140013, 0x00160015, 0x00180017, 0x001a0019, 0x00210020, 0x00230022, 0x00250024, 0x00270026);
  const __m512i scaleWords = _mm512_setr_epi32(0, 0, 0x00090009, 0x00090009, 0x00120012, 0x00120012, 0x001b001b, 0x001b001b, 0, 0, 0, 0, 0, 0, 0, 0);
  dW = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_maskz_permutexvar_epi16(static_cast<__mmask32>((1u << (4 * n)) - 1), scaleWords, first)));
  return _mm512_permutex2var_epi16(first, codeWords, last);
}

// Q4_0 rows against a float row, 64 code bytes (four blocks) at a time, with no shuffle and no
// shift per value. 32-bit lane j of the 64 bytes holds bytes 4j .. 4j + 3 (block j / 4, its bytes
// 4 (j % 4) + t), so its eight nibbles are eight values of one block: the nibble at bit 8t + 4h
// (h = 1: the high one, value + 16) is vector s = 2t + h. Vectors 0-3 are the nibbles at bits 0, 4,
// 8, 12 of the bytes as loaded, vectors 4-7 the same bits of the bytes shifted down 16 once; each
// is one AND away from an integer, n * 2^p (p = 4 (s % 4), n the code 0-15), which vcvtdq2ps makes
// a float exactly. The row was put in that order beforehand (orderForNibbles), each value times
// 2^-p, so each product is x * n; the codes' offset, -8 per value, comes in as one vector a group,
// -8 times the sum of each lane's eight x (kept after the group's 128 values), added before the
// lane's d multiplies the lane. The kernel this replaced moved each nibble to the top of its lane
// and back down, sign and all (two shifts and a conversion per 16 values, which this CPU's Zen 4
// cores run on one pipe: 3 cycles a vector, measured by a register-only loop; an AND, a conversion
// and a multiply-add take 1.5): 2048 x 8192 and 8192 x 2048 GEMVs from memory read 17.8-17.9 G
// values/s with it on one thread and 25.2-26.1 with this, at 2 threads 34.6-34.9 and 46.1-49.6 (a
// scratch harness loading both builds, 2026-12-05). Against the old kernel's one rounding of each
// x * (n - 8), the offset's sum adds its own: outputs differed by up to 2.5x its error, within
// 2.5e-7 of the sum of the products' magnitudes. The row's 2^-p is exact unless |x| < 2^-114, where
// x * 2^-12 is subnormal and loses low bits.
// R rows at once (r, r + apart, ...; results to out[0], out[apart], ...); each row's arithmetic is
// the same whatever R and whichever layout holds W (a lane's d is the same float), so a row's result
// is the same bits read alone, beside others, or from GGUF's interleaved blocks.

// The nibbles of vector S (0-7) of a group's code bytes, at bit p = 4 (S % 4) of each lane: from
// `low`, the bytes as loaded, for S < 4, from `high`, the bytes shifted down 16, for the rest.
template <int S>
inline __m512i nibbleField(__m512i low, __m512i high) {
  return _mm512_and_si512(S < 4 ? low : high, _mm512_set1_epi32(0xf << (4 * (S % 4))));
}

// acc + (the group's values times the ordered row's 128 values at x, plus its offsets at x + 128, in
// two chains) times each lane's d.
inline __m512 addGroup(__m512 acc, __m512i codes, __m512 scale, const float* x) {
  const __m512i high = _mm512_srli_epi32(codes, 16);
  const auto value = [&](auto index) {
    constexpr int S = decltype(index)::value;
    return _mm512_cvtepi32_ps(nibbleField<S>(codes, high));
  };
  __m512 even = _mm512_fmadd_ps(value(std::integral_constant<int, 0>{}), _mm512_loadu_ps(x), _mm512_loadu_ps(x + 128));
  __m512 odd = _mm512_mul_ps(value(std::integral_constant<int, 1>{}), _mm512_loadu_ps(x + 16));
  even = _mm512_fmadd_ps(value(std::integral_constant<int, 2>{}), _mm512_loadu_ps(x + 32), even);
  odd = _mm512_fmadd_ps(value(std::integral_constant<int, 3>{}), _mm512_loadu_ps(x + 48), odd);
  even = _mm512_fmadd_ps(value(std::integral_constant<int, 4>{}), _mm512_loadu_ps(x + 64), even);
  odd = _mm512_fmadd_ps(value(std::integral_constant<int, 5>{}), _mm512_loadu_ps(x + 80), odd);
  even = _mm512_fmadd_ps(value(std::integral_constant<int, 6>{}), _mm512_loadu_ps(x + 96), even);
  odd = _mm512_fmadd_ps(value(std::integral_constant<int, 7>{}), _mm512_loadu_ps(x + 112), odd);
  return _mm512_fmadd_ps(_mm512_add_ps(even, odd), scale, acc);
}

template <int R, bool kInterleaved>
void dotNibbleOrderedRowsOf(const float* ordered, const QuantizedMatrix& w, std::size_t r, std::size_t apart, float* out) {
  const uint8_t* rows[R];
  const uint16_t* scales[R];
  rowsApart<R>(w, r, apart, rows, scales);
  const std::size_t blocks = w.cols / 32;
  constexpr std::size_t kBlockBytes = kInterleaved ? 18 : 16;  // (w.blockBytes() for Q4_0)
  const __m512i firstPick = firstGroupPick();
  const __m512i four = _mm512_set1_epi32(4);
  __m512 acc[R];
  for (int i = 0; i < R; ++i) acc[i] = _mm512_setzero_ps();
  for (std::size_t b = 0; b < blocks; b += 16) {
    const std::size_t n = std::min<std::size_t>(16, blocks - b);
    __m512 d16[R];
    if constexpr (!kInterleaved) {
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) {
        prefetchScalesAhead(w, scales[i], b);
        d16[i] = _mm512_cvtph_ps(scales16(w, scales[i], b, lanes(n)));
      }
    }
    // Group k (blocks k .. k + 3) of every row; kWhole false: the row's last group, short (its
    // blocks' bytes only are read, zeros past them).
    __m512i pick = firstPick;
    const auto group = [&](std::size_t k, auto whole) {
      constexpr bool kWhole = decltype(whole)::value;
      const std::size_t inGroup = kWhole ? 4 : blocks - k;
      const float* x = ordered + k / 4 * kOrderedGroupFloats;
      // (Unrolled, so that the accumulators and d's stay in registers: looped, GCC kept them on the stack.)
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) {
        const uint8_t* codes = rows[i] + k * kBlockBytes;
        __m512i q;
        __m512 scale;
        if constexpr (kInterleaved) {
          q = interleavedGroup(w, rows[i], k, inGroup, scale);
        } else {
          q = kWhole ? _mm512_loadu_si512(codes) : _mm512_maskz_loadu_epi8((1ull << (16 * inGroup)) - 1, codes);
          scale = _mm512_permutexvar_ps(pick, d16[i]);
        }
        _mm_prefetch(reinterpret_cast<const char*>(codes + kCodesAheadBytes), _MM_HINT_T0);
        acc[i] = addGroup(acc[i], q, scale, x);
      }
      pick = _mm512_add_epi32(pick, four);
    };
    std::size_t k = b;
    for (; k + 4 <= b + n; k += 4) group(k, std::true_type{});
    if (k < b + n) group(k, std::false_type{});
  }
  for (int i = 0; i < R; ++i) out[i * apart] = _mm512_reduce_add_ps(acc[i]);
}

template <int R>
void dotNibbleOrderedRowsAvx512(const float* ordered, const QuantizedMatrix& w, std::size_t r, std::size_t apart, float* out) {
  if (w.interleaved) dotNibbleOrderedRowsOf<R, true>(ordered, w, r, apart, out);
  else dotNibbleOrderedRowsOf<R, false>(ordered, w, r, apart, out);
}

// A short prompt's rows against Q4_0 rows: RB rows of W (r, r + 1, ...) by RA rows of A (each in nibble
// order) into out[m * ldo + j], as the 4 x 4 float32 tile over dequantized rows would multiply them,
// with each W value made in registers instead: a nibble's value times its lane's d (exact in float32,
// the value dequantizeRow stores), multiplied into RB x RA accumulators, one vector of A loaded for
// RB rows of W. The sums run in nibble order, not column order. The dequantize-then-multiply path
// this replaced spent a fifth of a 16-token prompt's products writing and rereading the floats.
// A nibble is taken as the rows' kernel takes it (nibbleField), with its offset subtracted in the
// integers: (n - 8) * 2^p, exact, so that times d and times the row's x * 2^-p it is the product
// x * (n - 8) * d, as a dequantized value times x.
template <int RB, int RA, bool kInterleaved>
void dotNibbleOrderedTileOf(const float* const* ordered, const QuantizedMatrix& w, std::size_t r, float* out, std::size_t ldo) {
  constexpr std::size_t kBlockBytes = kInterleaved ? 18 : 16;  // (w.blockBytes() for Q4_0)
  const uint8_t* rows[RB];
  const uint16_t* scales[RB];
  rowsApart<RB>(w, r, 1, rows, scales);
  const std::size_t blocks = w.cols / 32;
  const __m512i pick = firstGroupPick();
  __m512 acc[RA][RB];
  for (int m = 0; m < RA; ++m)
    for (int i = 0; i < RB; ++i) acc[m][i] = _mm512_setzero_ps();
  for (std::size_t k = 0; k < blocks; k += 4) {
    const std::size_t inGroup = std::min<std::size_t>(4, blocks - k);  // a short last group reads zeros past it
    __m512i low[RB], high[RB];
    __m512 scale[RB];
#pragma GCC unroll 4
    for (int i = 0; i < RB; ++i) {
      const uint8_t* codes = rows[i] + k * kBlockBytes;
      __m512i q;
      if constexpr (kInterleaved) {
        q = interleavedGroup(w, rows[i], k, inGroup, scale[i]);
      } else {
        q = inGroup == 4 ? _mm512_loadu_si512(codes) : _mm512_maskz_loadu_epi8((1ull << (16 * inGroup)) - 1, codes);
        scale[i] = _mm512_permutexvar_ps(pick, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(lanes(inGroup), scales[i] + k)));
      }
      _mm_prefetch(reinterpret_cast<const char*>(codes + kCodesAheadBytes), _MM_HINT_T0);
      low[i] = q;
      high[i] = _mm512_srli_epi32(q, 16);
    }
    const auto nibble = [&](auto index) {
      constexpr int S = decltype(index)::value;
      __m512 value[RB];
#pragma GCC unroll 4
      for (int i = 0; i < RB; ++i) {
        const __m512i centred = _mm512_sub_epi32(nibbleField<S>(low[i], high[i]), _mm512_set1_epi32(8 << (4 * (S % 4))));
        value[i] = _mm512_mul_ps(_mm512_cvtepi32_ps(centred), scale[i]);
      }
#pragma GCC unroll 4
      for (int m = 0; m < RA; ++m) {
        const __m512 xv = _mm512_loadu_ps(ordered[m] + k / 4 * kOrderedGroupFloats + 16 * S);
#pragma GCC unroll 4
        for (int i = 0; i < RB; ++i) acc[m][i] = _mm512_fmadd_ps(xv, value[i], acc[m][i]);
      }
    };
    nibble(std::integral_constant<int, 0>{});
    nibble(std::integral_constant<int, 1>{});
    nibble(std::integral_constant<int, 2>{});
    nibble(std::integral_constant<int, 3>{});
    nibble(std::integral_constant<int, 4>{});
    nibble(std::integral_constant<int, 5>{});
    nibble(std::integral_constant<int, 6>{});
    nibble(std::integral_constant<int, 7>{});
  }
  for (int m = 0; m < RA; ++m)
    for (int i = 0; i < RB; ++i) out[m * ldo + i] = _mm512_reduce_add_ps(acc[m][i]);
}

// W's rows r0 .. r0 + n - 1 four at a time (then one by one) against A's RA rows.
template <int RA>
void dotNibbleOrderedTileAvx512(const float* const* ordered, const QuantizedMatrix& w, std::size_t r0, std::size_t n, float* out,
                                std::size_t ldo) {
  std::size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    if (w.interleaved) dotNibbleOrderedTileOf<4, RA, true>(ordered, w, r0 + j, out + j, ldo);
    else dotNibbleOrderedTileOf<4, RA, false>(ordered, w, r0 + j, out + j, ldo);
  }
  for (; j < n; ++j) {
    if (w.interleaved) dotNibbleOrderedTileOf<1, RA, true>(ordered, w, r0 + j, out + j, ldo);
    else dotNibbleOrderedTileOf<1, RA, false>(ordered, w, r0 + j, out + j, ldo);
  }
}

#pragma GCC push_options
#pragma GCC target("avx512vnni")
// R rows at once (r, r + apart, ..., their results to out[0], out[apart], ...): each group's x codes,
// offsets and d's are loaded once for all R, and R rows' code streams are read side by side; each
// row's arithmetic is the one-row kernel's, and a lane's scale dx * dW the same product whichever
// layout holds W, so its result is the same bits.
template <int R, bool kInterleaved>
void dotQ4Int8RowsOf(const Int8Activations& x, const QuantizedMatrix& w, std::size_t r, std::size_t apart, float* out) {
  const uint8_t* rows[R];
  const uint16_t* scales[R];
  rowsApart<R>(w, r, apart, rows, scales);
  const std::size_t blocks = w.cols / 32;
  const __m512i lowNibbles = _mm512_set1_epi8(0x0f);
  const __m512i firstPick = firstGroupPick();
  const __m512i four = _mm512_set1_epi32(4);
  __m512 acc[R][2];
  for (int i = 0; i < R; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (std::size_t b = 0; b < blocks; b += 16) {
    const std::size_t n = std::min<std::size_t>(16, blocks - b);
    const __mmask16 m = lanes(n);
    const __m512 dx = _mm512_maskz_loadu_ps(m, x.d.data() + b);
    // Split: the 16 blocks' dx * dW, picked per group. Interleaved: dx alone, each group's dW read with its codes.
    __m512 d16[R];
    for (int i = 0; i < R; ++i) {
      if constexpr (kInterleaved) {
        d16[i] = dx;
      } else {
        prefetchScalesAhead(w, scales[i], b);
        d16[i] = _mm512_mul_ps(dx, _mm512_cvtph_ps(scales16(w, scales[i], b, m)));
      }
    }
    // Group g (4 blocks) into each row's accumulator `slot`: even groups into 0, odd into 1 (two
    // chains of additions), the slot a constant in each call so the accumulators stay in registers.
    const auto group = [&](std::size_t g, __m512i pick, int slot) {
      const std::size_t k = b + 4 * g;  // the group's first block
      const std::size_t inGroup = std::min<std::size_t>(4, blocks - k);
      const int8_t* xs = x.nibbleOrder.data() + k * 32;
      const __m512i offsets = _mm512_loadu_si512(x.nibbleOffsets.data() + k * 4);
      const __m512i xLow = _mm512_loadu_si512(xs), xHigh = _mm512_loadu_si512(xs + 64);
      for (int i = 0; i < R; ++i) {
        __m512i q;
        __m512 scale = _mm512_permutexvar_ps(pick, d16[i]);
        if constexpr (kInterleaved) {
          __m512 dW;
          q = interleavedGroup(w, rows[i], k, inGroup, dW);
          scale = _mm512_mul_ps(scale, dW);
        } else {
          q = fourBlocks(w, rows[i], k, inGroup);
        }
        _mm_prefetch(reinterpret_cast<const char*>(w.blockCodes(rows[i], k) + kCodesAheadBytes), _MM_HINT_T0);
        __m512i sum = _mm512_dpbusd_epi32(offsets, _mm512_and_si512(q, lowNibbles), xLow);
        sum = _mm512_dpbusd_epi32(sum, _mm512_and_si512(_mm512_srli_epi16(q, 4), lowNibbles), xHigh);
        acc[i][slot] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, acc[i][slot]);
      }
    };
    __m512i pick = firstPick;
    for (std::size_t g = 0; 4 * g < n; g += 2) {
      group(g, pick, 0);
      pick = _mm512_add_epi32(pick, four);
      if (4 * (g + 1) < n) group(g + 1, pick, 1);
      pick = _mm512_add_epi32(pick, four);
    }
  }
  for (int i = 0; i < R; ++i) out[i * apart] = _mm512_reduce_add_ps(_mm512_add_ps(acc[i][0], acc[i][1]));
}

template <int R>
void dotQ4Int8Rows(const Int8Activations& x, const QuantizedMatrix& w, std::size_t r, std::size_t apart, float* out) {
  if (w.interleaved) dotQ4Int8RowsOf<R, true>(x, w, r, apart, out);
  else dotQ4Int8RowsOf<R, false>(x, w, r, apart, out);
}

// Q4_0 W against Q8_0 x: four blocks (64 code bytes) per step, read as they are stored. The low
// nibbles of the 64 bytes are values 0-15 of the four blocks, the high nibbles values 16-31; x's
// codes were reordered to face them (Int8Activations::nibbleOrder), so two VNNI u8 x s8 dot products
// (codes 0-15 unsigned, x signed) leave in 32-bit lane l the sum of block l / 4's eight products of
// the lane, starting from -8 times the sum of the lane's x codes (nibbleOffsets): sum (code - 8) * x.
// Each lane is then scaled by its block's dW * dx in float32. A short last group reads only its
// blocks' bytes; its missing x codes, offsets and d's are zero.
float dotQ4Int8Avx512(const Int8Activations& x, const QuantizedMatrix& w, std::size_t r) {
  float out[1];
  dotQ4Int8Rows<1>(x, w, r, 1, out);
  return out[0];
}

// 8-bit W (Q8_0 groups of 32, or one scale per row) against Q8_0 x: two blocks (64 values) per step,
// VNNI's u8 x s8 dot products, 4 products per 32-bit lane: lanes 0-7 sum block b, lanes 8-15 block
// b + 1, each scaled by its two d's into float32 lanes. Both sides are signed: W's codes carry x's
// sign against |x| (x's codes are within +-127).
float dotInt8ActivationsAvx512(const Int8Activations& x, const QuantizedMatrix& w, std::size_t r) {
  if (w.bits == 4) return dotQ4Int8Avx512(x, w, r);
  const uint8_t* row = w.rowCodes(r);
  const uint16_t* scales = w.rowScales(r);
  const std::size_t blocks = w.cols / 32;
  const bool perBlock = w.group == 32;  // else one scale for the row (int8 per output channel)
  const __m512i firstOrSecond = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  // The integer sums of blocks b and b + 1 (pair false: block b alone, the upper lanes' loads masked to zero).
  auto pairDot = [&](std::size_t b, bool pair) {
    const __mmask64 bytes = pair ? ~0ull : 0xffffffffull;
    const __m512i xs = _mm512_maskz_loadu_epi8(bytes, x.codes.data() + b * 32);
    const __m512i q = twoBlocks(w, row, b, pair);
    const __m512i signedQ = _mm512_mask_sub_epi8(q, _mm512_movepi8_mask(xs), _mm512_setzero_si512(), q);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(xs), signedQ);
  };
  // Blocks b and b + 1 (or b alone) scaled by their d's into sum.
  auto step = [&](std::size_t b, bool pair, __m512& sum) {
    const __mmask16 lanes = pair ? 0xffff : 0x00ff;
    const __m512i dot = pairDot(b, pair);
    __m512 d = _mm512_maskz_loadu_ps(lanes, x.dLanes.data() + b * 8);
    if (perBlock) {
      const __m128i halves = _mm256_castsi256_si128(scales16(w, scales, b, pair ? 0x3 : 0x1));
      d = _mm512_mul_ps(d, _mm512_permutexvar_ps(firstOrSecond, _mm512_castps256_ps512(_mm256_cvtph_ps(halves))));
    }
    sum = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), d, sum);
  };
  std::size_t b = 0;
  // Sixteen blocks at a time: their sixteen dW * dx products in one vector, each step's two picked from it.
  const __m512i two = _mm512_set1_epi32(2);
  for (; b + 16 <= blocks; b += 16) {
    __m512 d16 = _mm512_loadu_ps(x.d.data() + b);
    if (perBlock) d16 = _mm512_mul_ps(d16, _mm512_cvtph_ps(scales16(w, scales, b, 0xffff)));
    __m512i pick = firstOrSecond;
    for (std::size_t s = 0; s < 8; ++s, pick = _mm512_add_epi32(pick, two)) {
      acc[s & 1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(pairDot(b + 2 * s, true)), _mm512_permutexvar_ps(pick, d16), acc[s & 1]);
    }
  }
  for (; b + 2 <= blocks; b += 2) step(b, true, acc[0]);
  if (b < blocks) step(b, false, acc[1]);
  const float total = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
  return perBlock ? total : total * _cvtsh_ss(scales[0]);
}
#pragma GCC pop_options

// The quantizer, 16 values at a time, writing the bytes quantizeRows's portable loop writes: the
// same float32 steps (x * id, then + 8.5, each rounded: the _round_ forms cannot be fused into one
// multiply-add), roundf's halves away from zero done exactly (truncate, then step away from zero
// when the dropped fraction is at least one half).
inline __m512 load16(const float* f32, const uint16_t* bf16, std::size_t i, std::size_t count) {
  if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(lanes(count), bf16 + i)), 16));
  return _mm512_maskz_loadu_ps(lanes(count), f32 + i);
}

constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

// Q4_0 (bits 4, group 32, whole groups), the layout every 4-bit weight takes: a group is two
// vectors, kept in registers from the max to the codes; the value of largest magnitude (the first
// one, as the sequential scan picks it) is found by a compare mask instead of a scalar rescan, and
// d is narrowed by vcvtps2ph (round to nearest even, as narrowF16 for every finite d). The scalar
// rescan and the second pass of loads made the general loop 1.5 G values/s on 2 threads (5.7 this
// way); the 1B model's int4 load spent 1.1 s of its 2.0 s in it.
bool quantizeQ4Avx512(const float* f32, const uint16_t* bf16, std::size_t r0, std::size_t r1, std::size_t cols,
                      uint8_t* codes, uint16_t* scales) {
  const std::size_t groups = cols / 32, rowBytes = cols / 2;
  const __m512 absMask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512 half8 = _mm512_set1_ps(8.5f);
  const __m512i fifteen = _mm512_set1_epi32(15);
  for (std::size_t r = r0; r < r1; ++r) {
    uint8_t* row = codes + r * rowBytes;
    uint16_t* rowScales = scales + r * groups;
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t at = r * cols + g * 32;
      const __m512 v0 = load16(f32, bf16, at, 16), v1 = load16(f32, bf16, at + 16, 16);
      if (_mm512_fpclass_ps_mask(v0, 0x99) | _mm512_fpclass_ps_mask(v1, 0x99)) return false;  // NaN or infinity
      const __m512 a0 = _mm512_and_ps(v0, absMask), a1 = _mm512_and_ps(v1, absMask);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
      __m512 vid = _mm512_setzero_ps();
      uint16_t dBits = 0x8000u;  // an all-zero group: d = 0 / -8 = -0, as the general loop and gguf-py write it
      if (amax > 0.0f) {
        const __m512 m = _mm512_set1_ps(amax);
        const uint32_t hits = static_cast<uint32_t>(_mm512_cmp_ps_mask(a0, m, _CMP_EQ_OQ)) |
                              (static_cast<uint32_t>(_mm512_cmp_ps_mask(a1, m, _CMP_EQ_OQ)) << 16);
        const unsigned lane = static_cast<unsigned>(__builtin_ctz(hits));
        const float extreme = _mm512_cvtss_f32(_mm512_permutexvar_ps(_mm512_set1_epi32(static_cast<int>(lane & 15)), lane < 16 ? v0 : v1));
        const float d = extreme / -8.0f;
        dBits = static_cast<uint16_t>(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        if ((dBits & 0x7c00u) == 0x7c00u) return false;
        vid = _mm512_set1_ps(1.0f / d);
      }
      rowScales[g] = dBits;
      const __m512i lo = _mm512_min_epi32(_mm512_cvttps_epi32(_mm512_add_round_ps(_mm512_mul_round_ps(v0, vid, kRound), half8, kRound)), fifteen);
      const __m512i hi = _mm512_min_epi32(_mm512_cvttps_epi32(_mm512_add_round_ps(_mm512_mul_round_ps(v1, vid, kRound), half8, kRound)), fifteen);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(row + g * 16), _mm512_cvtepi32_epi8(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4))));
    }
  }
  return true;
}

bool quantizeRowsAvx512(const float* f32, const uint16_t* bf16, std::size_t r0, std::size_t r1, int bits, std::size_t cols,
                        std::size_t group, uint8_t* codes, uint16_t* scales) {
  if (bits == 4 && group == 32 && cols % 32 == 0) return quantizeQ4Avx512(f32, bf16, r0, r1, cols, codes, scales);
  QuantizedMatrix shape;
  shape.bits = bits;
  shape.cols = cols;
  shape.group = group;
  const std::size_t rowBytes = shape.rowBytes(), groups = shape.groupsPerRow();
  const __m512 signMask = _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(0x80000000u)));
  const __m512 absMask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (std::size_t r = r0; r < r1; ++r) {
    const std::size_t base = r * cols;
    uint8_t* row = codes + r * rowBytes;
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t c0 = g * group, c1 = std::min(cols, c0 + group);
      __m512 vmax = _mm512_setzero_ps();
      __mmask16 bad = 0;
      for (std::size_t c = c0; c < c1; c += 16) {
        const __m512 v = load16(f32, bf16, base + c, std::min<std::size_t>(16, c1 - c));
        bad |= _mm512_fpclass_ps_mask(v, 0x99);  // NaN (quiet, signalling) or infinity
        vmax = _mm512_max_ps(vmax, _mm512_and_ps(v, absMask));
      }
      if (bad) return false;
      const float amax = _mm512_reduce_max_ps(vmax);
      float extreme = 0.0f;
      if (bits == 4 && amax > 0.0f) {  // the first value of that magnitude, as the sequential scan finds it
        for (std::size_t c = c0; c < c1; ++c) {
          const float v = bf16 ? widenBf16(bf16[base + c]) : f32[base + c];
          if (std::fabs(v) == amax) {
            extreme = v;
            break;
          }
        }
      }
      const float d = bits == 8 ? amax / 127.0f : extreme / -8.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      const uint16_t dBits = narrowF16(d);
      if ((dBits & 0x7c00u) == 0x7c00u) return false;
      scales[r * groups + g] = dBits;
      const __m512 vid = _mm512_set1_ps(id);
      if (bits == 8) {
        for (std::size_t c = c0; c < c1; c += 16) {
          const std::size_t count = std::min<std::size_t>(16, c1 - c);
          const __m512 x = _mm512_mul_round_ps(load16(f32, bf16, base + c, count), vid, kRound);
          const __m512 t = _mm512_roundscale_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
          const __mmask16 away = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_sub_ps(x, t), absMask), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
          const __m512 step = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(x, signMask));
          const __m512i q = _mm512_cvtps_epi32(_mm512_mask_add_ps(t, away, t, step));
          _mm_mask_storeu_epi8(row + c, lanes(count), _mm512_cvtsepi32_epi8(q));
        }
      } else {
        for (std::size_t c = c0; c < c1; c += 32) {
          auto nibbles = [&](std::size_t from) {
            const std::size_t count = from < c1 ? std::min<std::size_t>(16, c1 - from) : 0;  // lanes past cols read 0: code 8
            const __m512 x = _mm512_add_round_ps(_mm512_mul_round_ps(load16(f32, bf16, base + from, count), vid, kRound), _mm512_set1_ps(8.5f), kRound);
            return _mm512_min_epi32(_mm512_cvttps_epi32(x), _mm512_set1_epi32(15));
          };
          const __m512i lo = nibbles(c), hi = nibbles(c + 16);
          _mm_storeu_si128(reinterpret_cast<__m128i*>(row + (c / 32) * 16), _mm512_cvtepi32_epi8(_mm512_or_si512(lo, _mm512_slli_epi32(hi, 4))));
        }
      }
    }
  }
  return true;
}

#pragma GCC pop_options
#endif

}  // namespace

void dequantizeRow(const QuantizedMatrix& w, std::size_t r, std::size_t c0, std::size_t n, float* out) {
#ifdef GIFTJS_QUANT_X86
  if (cpuHasAvx512()) return dequantizeRowAvx512(w, r, c0, n, out);
#endif
  dequantizeRowPortable(w, r, c0, n, out);
}

bool nibbleOrderFits(const QuantizedMatrix& w) {
#ifdef GIFTJS_QUANT_X86
  return w.bits == 4 && w.group == 32 && w.cols % 32 == 0 && cpuHasAvx512();
#else
  (void)w;
  return false;
#endif
}

void orderForNibbles(const float* a, std::size_t cols, std::vector<float>& ordered) {
  const std::size_t groups = (cols / 32 + 3) / 4;
  ordered.resize(groups * kOrderedGroupFloats);
  // Vector s of a group, lane j, holds value 16h + i of block k: byte i = 4 (j % 4) + t of the block
  // (t = s / 2, h = s % 2), lane j = 4k + i / 4 of the group's 64 bytes (see addGroup), whose nibbles
  // the kernels read as n * 2^p, p = 4 (s % 4): so x * 2^-p here (exact, but for a subnormal result).
  static constexpr float kTimesTwoToMinusP[4] = {1.0f, 0x1p-4f, 0x1p-8f, 0x1p-12f};
  for (std::size_t g = 0; g < groups; ++g) {
    float* out = ordered.data() + kOrderedGroupFloats * g;
    const std::size_t blocks = std::min<std::size_t>(4, cols / 32 - 4 * g);  // the last group may hold fewer
    float offsets[16] = {};
    for (std::size_t s = 0; s < 8; ++s) {
      for (std::size_t j = 0; j < 16; ++j) {
        const std::size_t k = j / 4;
        const float x = k < blocks ? a[128 * g + 32 * k + 16 * (s % 2) + 4 * (j % 4) + s / 2] : 0.0f;
        out[16 * s + j] = x * kTimesTwoToMinusP[s % 4];
        offsets[j] += x;  // lane j's eight x, in vector order
      }
    }
    // Lane j's offset: -8 times the sum of its eight x, the codes' offset.
    for (std::size_t j = 0; j < 16; ++j) out[128 + j] = -8.0f * offsets[j];
  }
}

float dotNibbleOrdered(const float* ordered, const QuantizedMatrix& w, std::size_t r) {
  float out[1] = {0.0f};
#ifdef GIFTJS_QUANT_X86
  dotNibbleOrderedRowsAvx512<1>(ordered, w, r, 1, out);
#else
  (void)ordered, (void)w, (void)r;
#endif
  return out[0];
}

void dotNibbleOrderedRows(const float* ordered, const QuantizedMatrix& w, std::size_t r0, std::size_t n, float* out) {
#ifdef GIFTJS_QUANT_X86
  // Four rows a quarter apart at a time (four code streams far apart in flight), then the rest one by
  // one. Two at a time took 2048 x 8192 GEMVs from memory 294-319 us at 2 threads, four 243-256 (8192 x
  // 2048: 296-318 against 276-281; builds alternating).
  const std::size_t left = rowsQuarterApart(0, n, [&](std::size_t j, std::size_t quarter) {
    dotNibbleOrderedRowsAvx512<4>(ordered, w, r0 + j, quarter, out + j);
  });
  for (std::size_t j = left; j < n; ++j) dotNibbleOrderedRowsAvx512<1>(ordered, w, r0 + j, 1, out + j);
#else
  (void)ordered, (void)w, (void)r0, (void)n, (void)out;
#endif
}

void dotNibbleOrderedTile(const float* const* ordered, std::size_t M, const QuantizedMatrix& w, std::size_t r0, std::size_t n, float* out,
                          std::size_t ldo) {
#ifdef GIFTJS_QUANT_X86
  for (std::size_t i = 0; i < M; i += 4) {
    const float* const* rows = ordered + i;
    float* o = out + i * ldo;
    switch (std::min<std::size_t>(4, M - i)) {
      case 1: dotNibbleOrderedTileAvx512<1>(rows, w, r0, n, o, ldo); break;
      case 2: dotNibbleOrderedTileAvx512<2>(rows, w, r0, n, o, ldo); break;
      case 3: dotNibbleOrderedTileAvx512<3>(rows, w, r0, n, o, ldo); break;
      default: dotNibbleOrderedTileAvx512<4>(rows, w, r0, n, o, ldo); break;
    }
  }
#else
  (void)ordered, (void)M, (void)w, (void)r0, (void)n, (void)out, (void)ldo;
#endif
}

float dotQuantizedRow(const float* a, const QuantizedMatrix& w, std::size_t r, bool vector) {
  if (vector && nibbleOrderFits(w)) {
    std::vector<float> ordered;
    orderForNibbles(a, w.cols, ordered);
    return dotNibbleOrdered(ordered.data(), w, r);
  }
#ifdef GIFTJS_QUANT_X86
  // (A 4-bit row's 16-value runs start at multiples of 16 only when the group is.)
  if (vector && cpuHasAvx512() && w.group % 16 == 0) return dotAvx512(a, w, r);
#endif
  return dotPortable(a, w, r);
}

void dotQuantizedRows(const float* a, const QuantizedMatrix& w, std::size_t r0, std::size_t n, float* out, bool vector) {
  if (vector && nibbleOrderFits(w)) {
    std::vector<float> ordered;
    orderForNibbles(a, w.cols, ordered);
    return dotNibbleOrderedRows(ordered.data(), w, r0, n, out);
  }
  std::size_t i = 0;
#ifdef GIFTJS_QUANT_X86
  // (Under dotQuantizedRow's own condition for dotAvx512, which then takes the same kernel for each row.)
  if (vector && cpuHasAvx512() && w.group % 16 == 0) {
    // Four rows a quarter apart at a time, four code streams far apart in flight. (Two, half apart,
    // took 2048 x 8192 GEMVs from memory at 2 threads 475 us in int8 per channel and 528 in Q8_0
    // where four take 423 and 498; 8192 x 2048 measured the same; medians of 4-6 alternations.)
    if (const RowsKernel<4> kernel = rowsKernelFor<4>(w)) i = rowsQuarterApart(0, n, [&](std::size_t j, std::size_t quarter) { kernel(a, w, r0 + j, quarter, out + j); });
  }
#endif
  for (; i < n; ++i) out[i] = dotQuantizedRow(a, w, r0 + i, vector);
}

bool int8ActivationsFit(const QuantizedMatrix& w) {
  if (w.cols % 32 != 0) return false;
  return (w.bits == 4 && w.group == 32) || (w.bits == 8 && (w.group == 32 || w.group == w.cols));
}

bool roundToInt8(const float* a, std::size_t cols, Int8Activations& x) {
  const std::size_t blocks = cols / 32, groups = (blocks + 3) / 4;
  x.codes.resize(cols);
  x.d.resize(blocks);
  x.dLanes.resize(blocks * 8);
  x.nibbleOrder.assign(groups * 128, 0);
  x.nibbleOffsets.assign(groups * 16, 0);
  std::vector<uint16_t> halves(blocks);
  if (!quantizeRows(a, nullptr, 0, 1, 8, 1, cols, 32, reinterpret_cast<uint8_t*>(x.codes.data()), halves.data())) return false;
  for (std::size_t b = 0; b < blocks; ++b) {
    x.d[b] = widenF16(halves[b]);
    for (std::size_t l = 0; l < 8; ++l) x.dLanes[b * 8 + l] = x.d[b];
    // Block b is block k of its group: its code byte i (value i low, i + 16 high) is byte 16k + i of the 64.
    const std::size_t k = b % 4;
    int8_t* lo = x.nibbleOrder.data() + (b / 4) * 128 + 16 * k;
    for (std::size_t i = 0; i < 16; ++i) {
      lo[i] = x.codes[b * 32 + i];
      lo[64 + i] = x.codes[b * 32 + 16 + i];
    }
    // VNNI sums four bytes into a 32-bit lane: lane 4k + l of the group holds bytes 16k + 4l .. + 3.
    for (std::size_t l = 0; l < 4; ++l) {
      int sum = 0;
      for (std::size_t t = 0; t < 4; ++t) sum += lo[4 * l + t] + lo[64 + 4 * l + t];
      x.nibbleOffsets[(b / 4) * 16 + 4 * k + l] = -8 * sum;
    }
  }
  return true;
}

float dotInt8Activations(const Int8Activations& x, const QuantizedMatrix& w, std::size_t r, bool vector) {
#ifdef GIFTJS_QUANT_X86
  if (vector && cpuHasAvx512Vnni()) return dotInt8ActivationsAvx512(x, w, r);
#endif
  return dotInt8ActivationsPortable(x, w, r);
}

void dotInt8ActivationsRows(const Int8Activations& x, const QuantizedMatrix& w, std::size_t r0, std::size_t n, float* out, bool vector) {
  std::size_t i = 0;
#ifdef GIFTJS_QUANT_X86
  if (vector && w.bits == 4 && cpuHasAvx512Vnni()) {
    i = rowsHalfApart(0, n, [&](std::size_t j, std::size_t k) { dotQ4Int8Rows<2>(x, w, r0 + j, k - j, out + j); });
  }
#endif
  for (; i < n; ++i) out[i] = dotInt8Activations(x, w, r0 + i, vector);
}

bool quantizeRows(const float* f32, const uint16_t* bf16, std::size_t r0, std::size_t r1, int bits, std::size_t rows,
                  std::size_t cols, std::size_t group, uint8_t* codes, uint16_t* scales) {
  (void)rows;
#ifdef GIFTJS_QUANT_X86
  // (4-bit groups are whole blocks of 32, so each block's two nibble vectors start inside one group.)
  if (cpuHasAvx512()) return quantizeRowsAvx512(f32, bf16, r0, r1, bits, cols, group, codes, scales);
#endif
  QuantizedMatrix shape;
  shape.bits = bits;
  shape.cols = cols;
  shape.group = group;
  const std::size_t rowBytes = shape.rowBytes(), groups = shape.groupsPerRow();
  auto value = [&](std::size_t r, std::size_t c) {
    const std::size_t i = r * cols + c;
    return bf16 ? widenBf16(bf16[i]) : f32[i];
  };
  for (std::size_t r = r0; r < r1; ++r) {
    uint8_t* row = codes + r * rowBytes;
    if (bits == 4) std::memset(row, 0x88, rowBytes);  // padding past cols reads as code 8: value 0
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t c0 = g * group, c1 = std::min(cols, c0 + group);
      float amax = 0.0f, extreme = 0.0f;
      for (std::size_t c = c0; c < c1; ++c) {
        const float v = value(r, c);
        if (!std::isfinite(v)) return false;
        if (amax < std::fabs(v)) {
          amax = std::fabs(v);
          extreme = v;
        }
      }
      const float d = bits == 8 ? amax / 127.0f : extreme / -8.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      const uint16_t dBits = narrowF16(d);
      if ((dBits & 0x7c00u) == 0x7c00u) return false;
      scales[r * groups + g] = dBits;
      for (std::size_t c = c0; c < c1; ++c) {
        const float x = value(r, c) * id;
        if (bits == 8) {
          row[c] = static_cast<uint8_t>(static_cast<int8_t>(std::round(x)));
        } else {
          const int code = std::min(15, static_cast<int>(static_cast<int8_t>(x + 8.5f)));
          uint8_t& byte = row[(c / 32) * 16 + (c % 16)];
          byte = (c % 32) < 16 ? static_cast<uint8_t>((byte & 0xf0) | code) : static_cast<uint8_t>((byte & 0x0f) | (code << 4));
        }
      }
    }
  }
  return true;
}

void splitBlocks(const uint8_t* blocks, std::size_t count, std::size_t codeBytes, uint8_t* codes, uint16_t* scales) {
  const std::size_t blockBytes = codeBytes + 2;
  for (std::size_t k = 0; k < count; ++k) {
    const uint8_t* b = blocks + k * blockBytes;
    std::memcpy(scales + k, b, 2);
    std::memcpy(codes + k * codeBytes, b + 2, codeBytes);
  }
}

}  // namespace giftjs

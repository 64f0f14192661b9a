// Quantized frozen matrices (--quantize): a Linear weight W [rows = out, cols = in] held as integer
// codes with one scale per group of `group` consecutive values along a row, the scale stored as
// IEEE half-precision bits as GGUF stores its blocks' d:
//   8 bits: one signed byte per value, value = code * d           (GGUF's Q8_0 rule; group = cols: per output channel)
//   4 bits: two codes per byte in blocks of 32 as Q4_0 lays them out -- byte i of a block holds
//           value i in its low nibble and value i + 16 in its high one -- value = (code - 8) * d
// A row of 4-bit codes takes ceil(cols / 32) * 16 bytes (a short last block is zero-padded).
// A float16 checkpoint's matrix rides on the same machinery, kept as it is stored (not quantized):
//  16 bits: one IEEE half per value (two bytes, little-endian), no scales (groupsPerRow() is 0)
// The quantizer is src/tensor/quantized.ts (the reference) and quantizeRows below, which write the
// same bytes; dequantizeRow (and dequantize32Avx512 and QuantizedRowValues below, its forms for one
// whole group and for a short prompt's tile) is where codes become floats, so the GEMM's packing, the
// few-rows dot products and the TypeScript backend all see the same float32 values.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace giftjs {

// Interleaved (GGUF's Q8_0 / Q4_0 blocks as the file stores them, mapped rather than copied apart):
// each block of 32 values is its half d, then its codes (32 or 16 bytes), so codes and scales share
// one run of bytes. `codes` then points 2 bytes in (at the first block's codes) and `scales` at the
// first d, and both step by blockBytes() per block; every kernel reaches a block through
// blockCodes() and a scale through rowScales() with scaleStride(), so both layouts read the same
// values. Interleaved matrices have groups of 32 and whole blocks (cols % 32 == 0).
struct QuantizedMatrix {
  int bits = 8;  // 8 or 4 (quantized), or 16 (float16 halves as stored)
  const uint8_t* codes = nullptr;
  const uint16_t* scales = nullptr;  // half-precision bits, rows * groupsPerRow() of them, scaleStride() apart
  std::size_t rows = 0, cols = 0, group = 0;
  bool interleaved = false;

  // The group of column c (c < cols), and the groups of a row: a shift for groups of 32 (every 4-bit
  // matrix's, Q8_0's) and 0 for one group per row (int8 per output channel), a division only otherwise.
  // The dequantizing loops look a block's scale up per 32 values, where two divisions cost more than
  // the block's arithmetic.
  std::size_t groupOf(std::size_t c) const { return group == 32 ? c >> 5 : group >= cols ? 0 : c / group; }
  std::size_t groupsPerRow() const { return bits == 16 ? 0 : group == 32 ? (cols + 31) >> 5 : group >= cols ? (cols > 0 ? 1 : 0) : (cols + group - 1) / group; }
  // Bytes from one block of 32 values' codes to the next block's along a row.
  std::size_t blockBytes() const { return (bits == 4 ? 16 : 32) + (interleaved ? 2 : 0); }
  // Half-precision slots from one scale to the next.
  std::size_t scaleStride() const { return interleaved ? blockBytes() / 2 : 1; }
  std::size_t rowBytes() const {
    if (bits == 16) return 2 * cols;
    if (interleaved) return cols / 32 * blockBytes();
    return bits == 8 ? cols : (cols + 31) / 32 * 16;
  }
  // Bytes from `codes` on that the matrix reads (interleaved: the last block ends 2 bytes short of rows * rowBytes()).
  std::size_t codeBytes() const { return rows * rowBytes() - (interleaved ? 2 : 0); }
  // Scale slots from `scales` on that the matrix reads.
  std::size_t scaleSlots() const { return rows * groupsPerRow() == 0 ? 0 : (rows * groupsPerRow() - 1) * scaleStride() + 1; }
  // Row r's first code byte, and block b's codes within a row.
  const uint8_t* rowCodes(std::size_t r) const { return codes + r * rowBytes(); }
  const uint8_t* blockCodes(const uint8_t* row, std::size_t b) const { return row + b * blockBytes(); }
  // Row r's first scale; its group g's is rowScales(r)[g * scaleStride()].
  const uint16_t* rowScales(std::size_t r) const { return scales + r * groupsPerRow() * scaleStride(); }
  uint16_t scaleBits(std::size_t r, std::size_t g) const { return rowScales(r)[g * scaleStride()]; }
};

// IEEE half-precision bits -> float32 (exact, subnormals included).
float widenF16(uint16_t h);

// out[0..n) = W[r, c0 .. c0 + n) as float32.
void dequantizeRow(const QuantizedMatrix& w, std::size_t r, std::size_t c0, std::size_t n, float* out);

#if defined(__x86_64__)
// One block of 32 codes at `block` (bits 8 or 4, as blockCodes points at them) times d, as two vectors:
// lo = values 0 .. 15, hi = values 16 .. 31. Exact in float32.
__attribute__((target("avx512f"), always_inline)) inline void dequantizeBlockAvx512(int bits, const uint8_t* block, __m512 d,
                                                                                   __m512& lo, __m512& hi) {
  if (bits == 8) {
    lo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block)))), d);
    hi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16)))), d);
    return;
  }
  // One Q4_0 block: byte i holds value i (low nibble) and value i + 16 (high nibble), stored + 8.
  const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block)));
  const __m512i eight = _mm512_set1_epi32(8);
  lo = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_and_si512(bytes, _mm512_set1_epi32(0x0f)), eight)), d);
  hi = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(bytes, 4), eight)), d);
}

// dequantizeRow's values for the 32 columns c .. c + 31 of row r (bits 8 or 4; c % 32 == 0 and inside
// one group) as two vectors, lo = c .. c + 15 and hi = c + 16 .. c + 31: d x code, exact in float32.
// Inlined into AVX-512 callers (the bf16 pair packer): a function call per group to widen d made
// that packer 15-20% slower.
__attribute__((target("avx512f,f16c"), always_inline)) inline void dequantize32Avx512(const QuantizedMatrix& w, std::size_t r,
                                                                                    std::size_t c, __m512& lo, __m512& hi) {
  dequantizeBlockAvx512(w.bits, w.blockCodes(w.rowCodes(r), c / 32), _mm512_set1_ps(_cvtsh_ss(w.scaleBits(r, w.groupOf(c)))), lo, hi);
}

// The W formats whose values a short prompt's tile (gemm.cpp's dotTile512) makes in registers from a
// row as stored, instead of multiplying a dequantized copy: 8-bit codes in groups of 32 (Q8_0, either
// layout), 8-bit codes with one scale a row (int8 per output channel), float16 halves. (Q4_0 has its
// own tile in nibble order, dotNibbleOrderedTile.)
enum class RowValuesKind { Int8Blocks, Int8Row, Halves };

// The kind that reads W's rows from column c0 on; false for other formats, and for Q8_0 rows read from
// inside a block (c0 % 32 != 0), which those dequantize first.
inline bool rowValuesKindFor(const QuantizedMatrix& w, std::size_t c0, RowValuesKind& kind) {
  if (w.bits == 16) kind = RowValuesKind::Halves;
  else if (w.bits == 8 && w.group >= w.cols) kind = RowValuesKind::Int8Row;
  else if (w.bits == 8 && w.group == 32 && c0 % 32 == 0) kind = RowValuesKind::Int8Blocks;
  else return false;
  return true;
}

#pragma GCC push_options
#pragma GCC target("avx512f,f16c")
// Row r of W from column c0 on, value i (column c0 + i) made as dequantizeRow makes it: code x d, exact
// in float32, or a half widened, exact. So a tile over these rows gives the bits of the same tile over
// dequantized rows. load32 reads 32 values from i (i % 32 == 0: one Int8Blocks block), load16 the 16
// from i (i % 16 == 0), value one; at(i) is where value i's bytes are (to ask for what lies ahead).
template <RowValuesKind Kind>
struct QuantizedRowValues {
  static constexpr std::size_t kValueBytes = Kind == RowValuesKind::Halves ? 2 : 1;
  const uint8_t* row;                    // column c0's byte (Int8Blocks: block c0 / 32's first code)
  const uint16_t* scales = nullptr;      // Int8Blocks: block c0 / 32's d, the next scaleStride() on
  std::size_t blockBytes = 0, stride = 0;
  float d = 0.0f;                        // Int8Row: the row's one scale

  QuantizedRowValues(const QuantizedMatrix& w, std::size_t r, std::size_t c0) {
    if constexpr (Kind == RowValuesKind::Int8Blocks) {
      row = w.blockCodes(w.rowCodes(r), c0 / 32);
      scales = w.rowScales(r) + c0 / 32 * w.scaleStride();
      blockBytes = w.blockBytes();
      stride = w.scaleStride();
    } else {
      row = w.rowCodes(r) + kValueBytes * c0;
      if constexpr (Kind == RowValuesKind::Int8Row) d = _cvtsh_ss(w.scaleBits(r, 0));
    }
  }
  const uint8_t* at(std::size_t i) const {
    if constexpr (Kind == RowValuesKind::Int8Blocks) return row + i / 32 * blockBytes + i % 32;
    else return row + kValueBytes * i;
  }
  __m512 load16(std::size_t i) const {
    if constexpr (Kind == RowValuesKind::Halves) return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(at(i))));
    const __m512 codes = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(at(i)))));
    return _mm512_mul_ps(codes, _mm512_set1_ps(scaleOf(i)));
  }
  void load32(std::size_t i, __m512& lo, __m512& hi) const {
    if constexpr (Kind == RowValuesKind::Int8Blocks) {
      dequantizeBlockAvx512(8, at(i), _mm512_set1_ps(scaleOf(i)), lo, hi);
    } else {
      lo = load16(i);
      hi = load16(i + 16);
    }
  }
  float value(std::size_t i) const {
    if constexpr (Kind == RowValuesKind::Halves) {
      uint16_t half;
      __builtin_memcpy(&half, at(i), 2);
      return _cvtsh_ss(half);
    }
    return static_cast<float>(static_cast<int8_t>(*at(i))) * scaleOf(i);
  }

 private:
  float scaleOf(std::size_t i) const {
    if constexpr (Kind == RowValuesKind::Int8Blocks) return _cvtsh_ss(scales[i / 32 * stride]);
    else return d;
  }
};
#pragma GCC pop_options
#endif

// The dot product of a (cols floats) with row r of W, as the sum over groups of d * sum(a * code).
// (vector false: the portable loop, whatever the CPU has -- the few-rows GEMM under setGemmKernel("portable").)
float dotQuantizedRow(const float* a, const QuantizedMatrix& w, std::size_t r, bool vector = true);
// Rows r0 .. r0 + n - 1 of W against a into out[0 .. n): the same values as dotQuantizedRow row by row;
// where a row kernel serves W (Q8_0, float16, int8 per output channel), rows are read four at a time
// (n / 4 apart), sharing a's loads, four streams in flight, as Q4_0 rows are (below).
void dotQuantizedRows(const float* a, const QuantizedMatrix& w, std::size_t r0, std::size_t n, float* out, bool vector = true);

// Q4_0 rows' float products on AVX-512 (what dotQuantizedRow and dotQuantizedRows use for them): the
// float row first put in the order a row's 64 code bytes (four blocks) yield their nibbles, so the
// kernel needs no shuffle per value. A caller with many rows to multiply (decoding's GEMV) orders the
// row once and calls the two below; dotQuantizedRow(s) order it on every call.
// Whether W takes it: 4 bits in blocks of 32 filling its rows, on a CPU with AVX-512.
bool nibbleOrderFits(const QuantizedMatrix& w);
// a (cols floats, cols % 32 == 0) in that order, zero-padded to whole groups of four blocks: per
// group of four blocks, its 128 values as the kernels read them (each times the power of two that
// undoes its nibble's place, 2^-p), then 16 offsets (-8 times the sum of each lane's eight values).
constexpr std::size_t kOrderedGroupFloats = 128 + 16;
void orderForNibbles(const float* a, std::size_t cols, std::vector<float>& ordered);
// Row r of W against the ordered row (nibbleOrderFits(w)).
float dotNibbleOrdered(const float* ordered, const QuantizedMatrix& w, std::size_t r);
// Rows r0 .. r0 + n - 1 into out[0 .. n): the same bits as dotNibbleOrdered row by row; four rows at a
// time (n / 4 apart), sharing the row's loads, four code streams in flight.
void dotNibbleOrderedRows(const float* ordered, const QuantizedMatrix& w, std::size_t r0, std::size_t n, float* out);
// Rows 0 .. M - 1 of A (ordered[i], each in nibble order) against W's rows r0 .. r0 + n - 1 into
// out[i * ldo + j]: a short prompt's products, four rows of W by four of A at a time, W's values made
// in registers (no dequantized copy). Sums in nibble order: not dotNibbleOrdered's bits.
void dotNibbleOrderedTile(const float* const* ordered, std::size_t M, const QuantizedMatrix& w, std::size_t r0, std::size_t n,
                          float* out, std::size_t ldo);

// Quantizes rows [r0, r1) (bits 8 or 4) of a float32 matrix (or of bfloat16 bits when bf16 != null) into w's
// codes and scales (w.codes / w.scales writable here). Returns false when a scale overflows
// half precision or a value is not finite (the caller names the tensor).
bool quantizeRows(const float* f32, const uint16_t* bf16, std::size_t r0, std::size_t r1, int bits, std::size_t rows,
                  std::size_t cols, std::size_t group, uint8_t* codes, uint16_t* scales);

// llama.cpp's product for quantized weights (gift generate --int8-activations): the activation row
// rounded to Q8_0 blocks (32 values, a half-precision d = amax / 127, code = round(x / d): the
// quantizer above with bits 8, group 32), then each block's integer dot product with W's codes,
// scaled by both d's:  sum over blocks b of dW(b) * dx(b) * sum_i codeW(i) * codeX(i).
// An approximation of the float product (the activations lose bits), not the same number.
// Whether W's format has it: 4 bits in blocks of 32, or 8 bits in groups of 32 (GGUF's Q8_0) or of a
// whole row (per output channel); rows of whole blocks.
bool int8ActivationsFit(const QuantizedMatrix& w);

// One activation row in Q8_0, with what every weight row's product reuses.
struct Int8Activations {
  std::vector<int8_t> codes;  // cols
  std::vector<float> d;       // cols / 32, the half-precision d's widened
  std::vector<float> dLanes;  // each block's d 8 times (one per 32-bit lane of VNNI's sums)
  // For 4-bit W, read 64 code bytes (4 blocks) at a time: the codes reordered to face W's nibbles.
  // Per group of 4 blocks (128 values), 64 codes facing the low nibbles (block k's values 0-15, k = 0..3)
  // then 64 facing the high ones (values 16-31); zero-padded to whole groups.
  std::vector<int8_t> nibbleOrder;
  // Per group of 4 blocks, 16 lanes (lane l: block l / 4): -8 x the sum of the 8 codes the lane's 4 low
  // and 4 high nibbles multiply (4-bit W's codes are stored + 8). Zero-padded likewise.
  std::vector<int32_t> nibbleOffsets;
};
// Rounds a (cols floats, cols % 32 == 0) into x; false when a value is not finite or a d overflows
// half precision (that row then takes the float product, which carries the NaN or infinity on).
bool roundToInt8(const float* a, std::size_t cols, Int8Activations& x);
// Row r of W against x.
float dotInt8Activations(const Int8Activations& x, const QuantizedMatrix& w, std::size_t r, bool vector = true);
// Rows r0 .. r0 + n - 1 of W against x into out[0 .. n): the same values as dotInt8Activations row by
// row; 4-bit rows are read two at a time (n / 2 apart), sharing x's loads, two code streams in flight.
void dotInt8ActivationsRows(const Int8Activations& x, const QuantizedMatrix& w, std::size_t r0, std::size_t n, float* out, bool vector = true);

// GGUF's Q8_0 / Q4_0 blocks (a half d, then codeBytes of codes) split into a matrix's codes and
// scales: block k's codes to codes + k * codeBytes, its d to scales[k].
void splitBlocks(const uint8_t* blocks, std::size_t count, std::size_t codeBytes, uint8_t* codes, uint16_t* scales);

}  // namespace giftjs

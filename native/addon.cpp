// The N-API binding: thin wrappers that turn JavaScript typed arrays into pointers and call the
// kernels. gemm, gemmQuantized and quantizeRows take their fields one by one, in the order
// src/backend/native/binding.ts reads them from the Backend's argument objects (GemmArgs,
// QuantizedMatrix): reading 17 fields of an object through Node-API here cost 2 us a call against
// 0.5 us, which slowed decoding a small model by 10-20%. Argument checking that needs shapes lives in
// TypeScript (src/backend/native), which knows them; here we only check types and lengths so a bad
// call can never write out of bounds.
#include <napi.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "gemm/gemm.h"
#include "io/file_map.h"
#include "kernels/kernels.h"
#include "runtime/huge_pages.h"
#include "runtime/discard_pages.h"
#include "runtime/peak.h"
#include "runtime/thread_pool.h"

using namespace giftjs;

namespace {

const KernelInfo* gKernel = nullptr;
const KernelInfo& kernel() { return gKernel ? *gKernel : selectKernel(); }

struct F32 {
  float* data = nullptr;
  std::size_t length = 0;
  // Given (not a null for an optional output). An empty Float32Array has no data pointer, so
  // presence, not the pointer, decides whether its length is checked.
  bool present = false;
};

F32 f32(const Napi::CallbackInfo& info, std::size_t i, bool nullable = false) {
  Napi::Value v = info[i];
  if (nullable && (v.IsNull() || v.IsUndefined())) return {};
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a Float32Array");
  auto a = v.As<Napi::Float32Array>();
  return {a.Data(), a.ElementLength(), true};
}

const int32_t* i32(const Napi::CallbackInfo& info, std::size_t i, std::size_t need) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be an Int32Array");
  auto a = v.As<Napi::Int32Array>();
  if (a.ElementLength() < need) throw Napi::RangeError::New(info.Env(), "Int32Array too short");
  return a.Data();
}

std::size_t sz(const Napi::CallbackInfo& info, std::size_t i) {
  return static_cast<std::size_t>(info[i].As<Napi::Number>().Int64Value());
}
float num(const Napi::CallbackInfo& info, std::size_t i) { return info[i].As<Napi::Number>().FloatValue(); }

void need(const Napi::CallbackInfo& info, const F32& a, std::size_t n, const char* what) {
  if (a.present && a.length < n)
    throw Napi::RangeError::New(info.Env(), std::string(what) + ": array has " + std::to_string(a.length) +
                                                " floats, the kernel needs " + std::to_string(n));
}

// gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, batch, strideA, strideB, strideC)
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  GemmProblem p;
  p.transA = info[0].As<Napi::Boolean>();
  p.transB = info[1].As<Napi::Boolean>();
  p.M = sz(info, 2); p.N = sz(info, 3); p.K = sz(info, 4);
  p.alpha = num(info, 5);
  // B may be a Float32Array or a Uint16Array of bfloat16 bits (frozen weights stored at half size).
  F32 A = f32(info, 6), C = f32(info, 11);
  F32 B;
  const uint16_t* Bh = nullptr;
  if (info[8].IsTypedArray() && info[8].As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array) {
    auto h = info[8].As<Napi::Uint16Array>();
    Bh = h.Data();
    B.length = h.ElementLength();
    B.present = true;
  } else {
    B = f32(info, 8);
  }
  p.lda = sz(info, 7); p.ldb = sz(info, 9); p.beta = num(info, 10); p.ldc = sz(info, 12);
  const std::size_t batch = sz(info, 13), sA = sz(info, 14), sB = sz(info, 15), sC = sz(info, 16);
  if (batch == 0 || p.M == 0 || p.N == 0) return info.Env().Undefined();
  const std::size_t last = batch - 1;
  const std::size_t aRows = p.transA ? p.K : p.M, bRows = p.transB ? p.N : p.K;
  const std::size_t aCols = p.transA ? p.M : p.K, bCols = p.transB ? p.K : p.N;
  if (aRows && aCols) need(info, A, last * sA + (aRows - 1) * p.lda + aCols, "gemm A");
  if (bRows && bCols) need(info, B, last * sB + (bRows - 1) * p.ldb + bCols, "gemm B");
  need(info, C, last * sC + (p.M - 1) * p.ldc + p.N, "gemm C");
  p.A = A.data; p.C = C.data;
  if (Bh) p.Bbf16 = Bh;
  else p.B = B.data;
  if (batch == 1) gemm(p, kernel());
  else gemmBatched(p, batch, sA, sB, sC, kernel());
  return info.Env().Undefined();
}

// The codes and scales of a quantized matrix, checked against its shape (interleaved: GGUF's blocks
// as stored, codes and scales views of the same bytes; see quantized.h).
QuantizedMatrix quantizedArgs(const Napi::CallbackInfo& info, std::size_t at, uint8_t** codesOut = nullptr, uint16_t** scalesOut = nullptr,
                              bool interleaved = false) {
  // at: codes (Uint8Array), scales (Uint16Array), bits, rows, cols, group
  Napi::Env env = info.Env();
  if (!info[at].IsTypedArray() || info[at].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, "quantized codes must be a Uint8Array");
  if (!info[at + 1].IsTypedArray() || info[at + 1].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array)
    throw Napi::TypeError::New(env, "quantized scales must be a Uint16Array");
  auto codes = info[at].As<Napi::Uint8Array>();
  auto scales = info[at + 1].As<Napi::Uint16Array>();
  QuantizedMatrix w;
  w.bits = static_cast<int>(sz(info, at + 2));
  w.rows = sz(info, at + 3); w.cols = sz(info, at + 4); w.group = sz(info, at + 5);
  w.interleaved = interleaved;
  if ((w.bits != 8 && w.bits != 4 && w.bits != 16) || w.group == 0 || (w.bits == 4 && w.group % 32 != 0))
    throw Napi::RangeError::New(env, "quantized matrix: bits must be 8, 4 or 16 (float16) and the group positive (a multiple of 32 for 4 bits)");
  if (interleaved && (w.bits == 16 || w.group != 32 || w.cols % 32 != 0 || w.rows == 0))
    throw Napi::RangeError::New(env, "quantized matrix: interleaved blocks are 8 or 4 bits in groups of 32 over whole blocks");
  if (codes.ElementLength() < w.codeBytes() || scales.ElementLength() < w.scaleSlots())
    throw Napi::RangeError::New(env, "quantized matrix: codes or scales shorter than its shape needs");
  w.codes = codes.Data();
  w.scales = scales.Data();
  if (codesOut) *codesOut = codes.Data();
  if (scalesOut) *scalesOut = scales.Data();
  return w;
}

// gemmQuantized(transA, transB, M, N, K, alpha, A, lda, codes, scales, bits, rows, cols, group, beta, C, ldc, interleaved):
// one GEMM whose B is the quantized weight W [rows, cols] (op(B) = W^T when transB).
Napi::Value GemmQuantized(const Napi::CallbackInfo& info) {
  GemmProblem p;
  p.transA = info[0].As<Napi::Boolean>();
  p.transB = info[1].As<Napi::Boolean>();
  p.M = sz(info, 2); p.N = sz(info, 3); p.K = sz(info, 4);
  p.alpha = num(info, 5);
  F32 A = f32(info, 6), C = f32(info, 15);
  p.lda = sz(info, 7);
  const QuantizedMatrix w = quantizedArgs(info, 8, nullptr, nullptr, info.Length() > 17 && info[17].ToBoolean());
  p.beta = num(info, 14); p.ldc = sz(info, 16);
  if (p.M == 0 || p.N == 0) return info.Env().Undefined();
  const std::size_t bRows = p.transB ? p.N : p.K, bCols = p.transB ? p.K : p.N;
  if (bRows != w.rows || bCols != w.cols)
    throw Napi::RangeError::New(info.Env(), "gemmQuantized: op(B) must be the whole quantized matrix");
  const std::size_t aRows = p.transA ? p.K : p.M, aCols = p.transA ? p.M : p.K;
  if (aRows && aCols) need(info, A, (aRows - 1) * p.lda + aCols, "gemm A");
  need(info, C, (p.M - 1) * p.ldc + p.N, "gemm C");
  p.A = A.data; p.C = C.data;
  p.Bq = &w;
  p.ldb = w.cols;
  gemm(p, kernel());
  return info.Env().Undefined();
}

// splitBlocks(blocks, count, codeBytes, codes, codesOffset, scales, scalesOffset): GGUF Q8_0 / Q4_0
// blocks (a half d, then codeBytes of codes) into a quantized matrix's codes and scales from those offsets.
Napi::Value SplitBlocks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto typed = [&](std::size_t i, napi_typedarray_type type, const char* what) {
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type) throw Napi::TypeError::New(env, std::string("splitBlocks: ") + what);
    return info[i].As<Napi::TypedArray>();
  };
  auto blocks = typed(0, napi_uint8_array, "blocks must be a Uint8Array").As<Napi::Uint8Array>();
  const std::size_t count = sz(info, 1), codeBytes = sz(info, 2);
  auto codes = typed(3, napi_uint8_array, "codes must be a Uint8Array").As<Napi::Uint8Array>();
  const std::size_t codesOffset = sz(info, 4);
  auto scales = typed(5, napi_uint16_array, "scales must be a Uint16Array").As<Napi::Uint16Array>();
  const std::size_t scalesOffset = sz(info, 6);
  if (codeBytes == 0 || blocks.ElementLength() < count * (codeBytes + 2) || codes.ElementLength() < codesOffset + count * codeBytes ||
      scales.ElementLength() < scalesOffset + count)
    throw Napi::RangeError::New(env, "splitBlocks: an array is shorter than the blocks need");
  splitBlocks(blocks.Data(), count, codeBytes, codes.Data() + codesOffset, scales.Data() + scalesOffset);
  return env.Undefined();
}

// quantizeRows(values, codes, scales, bits, rows, cols, group): values a Float32Array or the
// Uint16Array of bfloat16 bits; false when a value is not finite or a scale overflows half precision.
Napi::Value QuantizeRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const float* f = nullptr;
  const uint16_t* h = nullptr;
  std::size_t length = 0;
  if (info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array) {
    auto a = info[0].As<Napi::Uint16Array>();
    h = a.Data();
    length = a.ElementLength();
  } else {
    F32 a = f32(info, 0);
    f = a.data;
    length = a.length;
  }
  uint8_t* codes = nullptr;
  uint16_t* scales = nullptr;
  const QuantizedMatrix w = quantizedArgs(info, 1, &codes, &scales);
  if (w.bits == 16) throw Napi::RangeError::New(env, "quantizeRows: bits 8 or 4 (float16 matrices are kept as stored, not quantized)");
  if (length < w.rows * w.cols) throw Napi::RangeError::New(env, "quantizeRows: fewer values than rows x cols");
  ThreadPool& pool = ThreadPool::instance();
  const std::size_t tasks = std::max<std::size_t>(1, std::min<std::size_t>(w.rows, static_cast<std::size_t>(pool.threads())));
  std::vector<char> ok(tasks, 1);
  pool.parallelFor(tasks, [&](std::size_t t) {
    const std::size_t r0 = w.rows * t / tasks, r1 = w.rows * (t + 1) / tasks;
    ok[t] = quantizeRows(f, h, r0, r1, w.bits, w.rows, w.cols, w.group, codes, scales) ? 1 : 0;
  });
  for (char v : ok)
    if (!v) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, true);
}

// measurePeak(seconds, streamBytes): the machine's limits on the pool's threads (runtime/peak.h).
Napi::Value MeasurePeak(const Napi::CallbackInfo& info) {
  const MachinePeak p = measurePeak(info[0].As<Napi::Number>().DoubleValue(), sz(info, 1));
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("f32Gflops", p.f32Gflops);
  o.Set("bf16Gflops", p.bf16Gflops > 0 ? Napi::Value(Napi::Number::New(info.Env(), p.bf16Gflops)) : info.Env().Null());
  o.Set("amxGflops", p.amxGflops > 0 ? Napi::Value(Napi::Number::New(info.Env(), p.amxGflops)) : info.Env().Null());
  o.Set("streamGBs", p.streamGBs);
  o.Set("firstTouchGBs", p.firstTouchGBs);
  o.Set("threads", p.threads);
  o.Set("isa", p.isa);
  return o;
}

// measureStream(streamBytes): measurePeak's memory stream alone, in GB/s (runtime/peak.h).
Napi::Value MeasureStream(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), measureStream(sz(info, 0)));
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  try {
    ThreadPool::instance().setThreads(static_cast<int>(sz(info, 0)));
  } catch (const std::runtime_error& e) {
    throw Napi::Error::New(info.Env(), std::string("setNumThreads: ") + e.what());
  }
  return info.Env().Undefined();
}
Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ThreadPool::instance().threads());
}

// setGemmKernel(name): forces "avx512", "avx2" or "portable" (benchmarks and tests); returns
// false when this CPU cannot run it. setGemmKernel(null) restores the automatic choice.
Napi::Value SetGemmKernel(const Napi::CallbackInfo& info) {
  if (info[0].IsNull() || info[0].IsUndefined()) {
    gKernel = nullptr;
    return Napi::Boolean::New(info.Env(), true);
  }
  const KernelInfo* k = kernelByName(info[0].As<Napi::String>().Utf8Value().c_str());
  if (k) gKernel = k;
  return Napi::Boolean::New(info.Env(), k != nullptr);
}

// setBf16Compute(on): returns whether the bf16 dot-product kernel will be used.
Napi::Value SetBf16Compute(const Napi::CallbackInfo& info) {
  const bool on = info[0].As<Napi::Boolean>();
  setBf16Compute(on);
  return Napi::Boolean::New(info.Env(), on && bf16ComputeAvailable());
}

// setBf16Kernel(name): forces the kernel of bf16 compute ("amxbf16", "avx512bf16", "amxbf16-reference");
// returns false when this CPU cannot run it. setBf16Kernel(null) restores the automatic choice.
Napi::Value SetBf16Kernel(const Napi::CallbackInfo& info) {
  if (info[0].IsNull() || info[0].IsUndefined()) return Napi::Boolean::New(info.Env(), setBf16Kernel(nullptr));
  return Napi::Boolean::New(info.Env(), setBf16Kernel(info[0].As<Napi::String>().Utf8Value().c_str()));
}

// setInt8Activations(on): decoding's products over quantized weights with the activations rounded
// to Q8_0 (native/gemm/gemm.h); returns whether it is on (every CPU has it: a portable loop stands
// in where AVX-512 VNNI is missing).
Napi::Value SetInt8Activations(const Napi::CallbackInfo& info) {
  const bool on = info[0].As<Napi::Boolean>();
  setInt8Activations(on);
  return Napi::Boolean::New(info.Env(), on);
}

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  Napi::Array avail = Napi::Array::New(info.Env());
  uint32_t n = 0;
  for (const char* name : {"avx512", "avx2", "portable"})
    if (kernelByName(name)) avail.Set(n++, name);
  o.Set("gemmKernel", kernel().name);
  o.Set("gemmKernels", avail);
  const char* bf16 = bf16KernelName();
  if (bf16) o.Set("bf16Kernel", bf16);
  else o.Set("bf16Kernel", info.Env().Null());
  o.Set("tile", std::to_string(kernel().mr) + "x" + std::to_string(kernel().nr));
  o.Set("threads", ThreadPool::instance().threads());
#if defined(__x86_64__)
  __builtin_cpu_init();
  Napi::Array feats = Napi::Array::New(info.Env());
  uint32_t f = 0;
  // __builtin_cpu_supports takes only string literals, hence the macro.
#define GIFTJS_FEATURE(name) if (__builtin_cpu_supports(name)) feats.Set(f++, name);
  GIFTJS_FEATURE("avx") GIFTJS_FEATURE("avx2") GIFTJS_FEATURE("fma") GIFTJS_FEATURE("avx512f")
  GIFTJS_FEATURE("avx512bw") GIFTJS_FEATURE("avx512vl") GIFTJS_FEATURE("avx512bf16") GIFTJS_FEATURE("avx512vnni")
#undef GIFTJS_FEATURE
  o.Set("features", feats);
#else
  o.Set("features", Napi::Array::New(info.Env()));
#endif
  return o;
}

Napi::Value RmsNormForward(const Napi::CallbackInfo& info) {
  const std::size_t rows = sz(info, 4), cols = sz(info, 5);
  F32 x = f32(info, 0), w = f32(info, 1), y = f32(info, 2), rstd = f32(info, 3);
  need(info, x, rows * cols, "rmsNorm x"); need(info, w, cols, "rmsNorm weight");
  need(info, y, rows * cols, "rmsNorm y"); need(info, rstd, rows, "rmsNorm rstd");
  rmsNormForward(x.data, w.data, y.data, rstd.data, rows, cols, num(info, 6));
  return info.Env().Undefined();
}

Napi::Value RmsNormBackward(const Napi::CallbackInfo& info) {
  const std::size_t rows = sz(info, 6), cols = sz(info, 7);
  F32 x = f32(info, 0), w = f32(info, 1), rstd = f32(info, 2), dy = f32(info, 3);
  F32 dx = f32(info, 4, true), dw = f32(info, 5, true);
  need(info, x, rows * cols, "x"); need(info, w, cols, "w"); need(info, rstd, rows, "rstd");
  need(info, dy, rows * cols, "dy"); need(info, dx, rows * cols, "dx"); need(info, dw, cols, "dw");
  rmsNormBackward(x.data, w.data, rstd.data, dy.data, dx.data, dw.data, rows, cols);
  return info.Env().Undefined();
}

Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  const std::size_t rows = sz(info, 6), cols = sz(info, 7);
  F32 x = f32(info, 0), w = f32(info, 1, true), b = f32(info, 2, true), y = f32(info, 3);
  F32 mean = f32(info, 4), rstd = f32(info, 5);
  need(info, x, rows * cols, "x"); need(info, w, cols, "w"); need(info, b, cols, "b");
  need(info, y, rows * cols, "y"); need(info, mean, rows, "mean"); need(info, rstd, rows, "rstd");
  layerNormForward(x.data, w.data, b.data, y.data, mean.data, rstd.data, rows, cols, num(info, 8));
  return info.Env().Undefined();
}

Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  const std::size_t rows = sz(info, 8), cols = sz(info, 9);
  F32 x = f32(info, 0), w = f32(info, 1, true), mean = f32(info, 2), rstd = f32(info, 3);
  F32 dy = f32(info, 4), dx = f32(info, 5, true), dw = f32(info, 6, true), db = f32(info, 7, true);
  need(info, x, rows * cols, "x"); need(info, w, cols, "w"); need(info, mean, rows, "mean");
  need(info, rstd, rows, "rstd"); need(info, dy, rows * cols, "dy"); need(info, dx, rows * cols, "dx");
  need(info, dw, cols, "dw"); need(info, db, cols, "db");
  layerNormBackward(x.data, w.data, mean.data, rstd.data, dy.data, dx.data, dw.data, db.data, rows, cols);
  return info.Env().Undefined();
}

template <void (*Fn)(const float*, float*, std::size_t, std::size_t)>
Napi::Value RowsUnary(const Napi::CallbackInfo& info) {
  const std::size_t rows = sz(info, 2), cols = sz(info, 3);
  F32 x = f32(info, 0), y = f32(info, 1);
  need(info, x, rows * cols, "x"); need(info, y, rows * cols, "y");
  Fn(x.data, y.data, rows, cols);
  return info.Env().Undefined();
}

template <void (*Fn)(const float*, const float*, float*, std::size_t, std::size_t)>
Napi::Value RowsBackward(const Napi::CallbackInfo& info) {
  const std::size_t rows = sz(info, 3), cols = sz(info, 4);
  F32 y = f32(info, 0), dy = f32(info, 1), dx = f32(info, 2);
  need(info, y, rows * cols, "y"); need(info, dy, rows * cols, "dy"); need(info, dx, rows * cols, "dx");
  Fn(y.data, dy.data, dx.data, rows, cols);
  return info.Env().Undefined();
}

// crossEntropyForward(logits, targets, loss, lse, rows, vocab, ignoreIndex)
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  const std::size_t rows = sz(info, 4), vocab = sz(info, 5);
  const int32_t ignore = info[6].As<Napi::Number>().Int32Value();
  F32 logits = f32(info, 0), loss = f32(info, 2), lse = f32(info, 3);
  const int32_t* t = i32(info, 1, rows);
  need(info, logits, rows * vocab, "logits"); need(info, loss, rows, "loss"); need(info, lse, rows, "lse");
  for (std::size_t r = 0; r < rows; ++r)
    if (t[r] != ignore && (t[r] < 0 || static_cast<std::size_t>(t[r]) >= vocab))
      throw Napi::RangeError::New(info.Env(), "cross-entropy target " + std::to_string(t[r]) + " at row " +
                                                  std::to_string(r) + " is outside the vocabulary of " + std::to_string(vocab));
  crossEntropyForward(logits.data, t, loss.data, lse.data, rows, vocab, ignore);
  return info.Env().Undefined();
}

// crossEntropyBackward(logits, targets, lse, rowScale, dlogits, rows, vocab, ignoreIndex)
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  const std::size_t rows = sz(info, 5), vocab = sz(info, 6);
  F32 logits = f32(info, 0), lse = f32(info, 2), scale = f32(info, 3), d = f32(info, 4);
  const int32_t* t = i32(info, 1, rows);
  need(info, logits, rows * vocab, "logits"); need(info, lse, rows, "lse"); need(info, scale, rows, "rowScale");
  need(info, d, rows * vocab, "dlogits");
  crossEntropyBackward(logits.data, t, lse.data, scale.data, d.data, rows, vocab, info[7].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

AttentionShape attentionShape(const Napi::CallbackInfo& info, std::size_t i) {
  Napi::Object o = info[i].As<Napi::Object>();
  auto get = [&](const char* k) { return static_cast<std::size_t>(o.Get(k).As<Napi::Number>().Int64Value()); };
  AttentionShape s{get("B"), get("H"), get("Hkv"), get("T"), get("S"), get("D"),
                   o.Get("scale").As<Napi::Number>().FloatValue(), o.Get("causal").As<Napi::Boolean>(), get("window"),
                   o.Get("softcap").As<Napi::Number>().FloatValue(), o.Get("segmented").As<Napi::Boolean>(), get("kvRows")};
  const Napi::Value dropout = o.Get("dropout");
  if (!dropout.IsUndefined() && !dropout.IsNull()) {
    Napi::Object d = dropout.As<Napi::Object>();
    s.drop = true;
    s.dropKey0 = d.Get("key0").As<Napi::Number>().Uint32Value();
    s.dropKey1 = d.Get("key1").As<Napi::Number>().Uint32Value();
    s.dropBelow = d.Get("dropBelow").As<Napi::Number>().Uint32Value();
    s.keepScale = d.Get("keepScale").As<Napi::Number>().FloatValue();
  }
  if (s.kvRows < s.S) throw Napi::RangeError::New(info.Env(), "attention: kvRows must be at least S (the keys)");
  if (s.segmented && !s.causal) throw Napi::RangeError::New(info.Env(), "attention: segmented attention needs the causal mask");
  if (s.window > 0 && !s.causal) throw Napi::RangeError::New(info.Env(), "attention: a sliding window needs the causal mask");
  if (s.Hkv == 0 || s.H % s.Hkv != 0)
    throw Napi::RangeError::New(info.Env(), "attention: query heads must be a multiple of key/value heads");
  return s;
}

void checkAttention(const Napi::CallbackInfo& info, const AttentionShape& s, const F32& q, const F32& k,
                    const F32& v, const F32& mask) {
  need(info, q, s.B * s.H * s.T * s.D, "q");
  need(info, k, s.B * s.Hkv * s.kvRows * s.D, "k");
  need(info, v, s.B * s.Hkv * s.kvRows * s.D, "v");
  need(info, mask, s.B * s.S, "keyMask");
  if (s.segmented && !mask.data) throw Napi::TypeError::New(info.Env(), "attention: segmented attention needs the segment ids (keyMask)");
}

// attentionForward(shape, q, k, v, keyMask|null, out, lse)
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  AttentionShape s = attentionShape(info, 0);
  F32 q = f32(info, 1), k = f32(info, 2), v = f32(info, 3), mask = f32(info, 4, true);
  F32 out = f32(info, 5), lse = f32(info, 6);
  checkAttention(info, s, q, k, v, mask);
  need(info, out, s.B * s.H * s.T * s.D, "out"); need(info, lse, s.B * s.H * s.T, "lse");
  attentionForward(s, q.data, k.data, v.data, mask.data, out.data, lse.data);
  return info.Env().Undefined();
}

// attentionBackward(shape, q, k, v, keyMask|null, out, lse, dout, dq|null, dk|null, dv|null)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  AttentionShape s = attentionShape(info, 0);
  if (s.kvRows != s.S) throw Napi::RangeError::New(info.Env(), "attentionBackward: k and v must hold exactly the keys (kvRows == S)");
  F32 q = f32(info, 1), k = f32(info, 2), v = f32(info, 3), mask = f32(info, 4, true);
  F32 out = f32(info, 5), lse = f32(info, 6), dout = f32(info, 7);
  F32 dq = f32(info, 8, true), dk = f32(info, 9, true), dv = f32(info, 10, true);
  checkAttention(info, s, q, k, v, mask);
  need(info, out, s.B * s.H * s.T * s.D, "out"); need(info, lse, s.B * s.H * s.T, "lse");
  need(info, dout, s.B * s.H * s.T * s.D, "dout"); need(info, dq, s.B * s.H * s.T * s.D, "dq");
  need(info, dk, s.B * s.Hkv * s.S * s.D, "dk"); need(info, dv, s.B * s.Hkv * s.S * s.D, "dv");
  attentionBackward(s, q.data, k.data, v.data, mask.data, out.data, lse.data, dout.data, dq.data, dk.data, dv.data);
  return info.Env().Undefined();
}

// activationForward(kind, x, y, n) / activationBackward(kind, x, dy, dx, n)
Activation activationOf(const Napi::CallbackInfo& info) {
  const int kind = info[0].As<Napi::Number>().Int32Value();
  if (kind < 0 || kind > static_cast<int>(Activation::Tanh))
    throw Napi::RangeError::New(info.Env(), "activation kind " + std::to_string(kind) + " is none of GeluErf 0, GeluTanh 1, Silu 2, Relu 3, Tanh 4");
  return static_cast<Activation>(kind);
}
Napi::Value ActivationForward(const Napi::CallbackInfo& info) {
  const std::size_t n = sz(info, 3);
  F32 x = f32(info, 1), y = f32(info, 2);
  need(info, x, n, "x"); need(info, y, n, "y");
  activationForward(activationOf(info), x.data, y.data, n);
  return info.Env().Undefined();
}
Napi::Value ActivationBackward(const Napi::CallbackInfo& info) {
  const std::size_t n = sz(info, 4);
  F32 x = f32(info, 1), dy = f32(info, 2), dx = f32(info, 3);
  need(info, x, n, "x"); need(info, dy, n, "dy"); need(info, dx, n, "dx");
  activationBackward(activationOf(info), x.data, dy.data, dx.data, n);
  return info.Env().Undefined();
}

// dropoutMultiply(x, out, n, key0, key1, dropBelow, keepScale): the three integers are 32-bit unsigned.
Napi::Value DropoutMultiply(const Napi::CallbackInfo& info) {
  const std::size_t n = sz(info, 2);
  if (n > (std::size_t{1} << 32)) throw Napi::RangeError::New(info.Env(), "dropoutMultiply: more than 2^32 values would repeat the mask");
  F32 x = f32(info, 0), out = f32(info, 1);
  need(info, x, n, "x"); need(info, out, n, "out");
  const auto u32 = [&](std::size_t i) { return info[i].As<Napi::Number>().Uint32Value(); };
  dropoutMultiply(x.data, out.data, n, u32(3), u32(4), u32(5), num(info, 6));
  return info.Env().Undefined();
}

// swigluForward(gate, up, y, n) / swigluBackward(gate, up, dy, dgate | null, dup | null, n)
Napi::Value SwigluForward(const Napi::CallbackInfo& info) {
  const std::size_t n = sz(info, 3);
  F32 g = f32(info, 0), u = f32(info, 1), y = f32(info, 2);
  need(info, g, n, "gate"); need(info, u, n, "up"); need(info, y, n, "y");
  swigluForward(g.data, u.data, y.data, n);
  return info.Env().Undefined();
}
Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  const std::size_t n = sz(info, 5);
  F32 g = f32(info, 0), u = f32(info, 1), dy = f32(info, 2), dg = f32(info, 3, true), du = f32(info, 4, true);
  need(info, g, n, "gate"); need(info, u, n, "up"); need(info, dy, n, "dy"); need(info, dg, n, "dgate"); need(info, du, n, "dup");
  swigluBackward(g.data, u.data, dy.data, dg.data, du.data, n);
  return info.Env().Undefined();
}

// A layout from JS: shape (array) and one or two stride arrays; checks that every operand's
// furthest element lies inside its array, so a wrong stride can never read out of bounds.
StridedLayout layoutFrom(const Napi::CallbackInfo& info, std::size_t shapeArg, std::initializer_list<std::pair<std::size_t, const F32*>> operands) {
  Napi::Env env = info.Env();
  if (!info[shapeArg].IsArray()) throw Napi::TypeError::New(env, "shape must be an array");
  auto shape = info[shapeArg].As<Napi::Array>();
  StridedLayout s;
  s.rank = shape.Length();
  if (s.rank > kMaxRank) throw Napi::RangeError::New(env, "rank above " + std::to_string(kMaxRank));
  bool empty = false;
  for (uint32_t d = 0; d < s.rank; ++d) {
    s.shape[d] = static_cast<std::size_t>(shape.Get(d).As<Napi::Number>().Int64Value());
    if (s.shape[d] == 0) empty = true;
  }
  std::size_t k = 0;
  for (auto [arg, array] : operands) {
    if (!info[arg].IsArray()) throw Napi::TypeError::New(env, "strides must be an array");
    auto st = info[arg].As<Napi::Array>();
    if (st.Length() != s.rank) throw Napi::RangeError::New(env, "strides and shape differ in rank");
    std::size_t last = 0;
    for (uint32_t d = 0; d < s.rank; ++d) {
      s.strides[k][d] = static_cast<std::size_t>(st.Get(d).As<Napi::Number>().Int64Value());
      if (!empty) last += (s.shape[d] - 1) * s.strides[k][d];
    }
    if (!empty) need(info, *array, last + 1, "strided operand");
    ++k;
  }
  return s;
}

std::size_t elements(const StridedLayout& s) {
  std::size_t n = 1;
  for (std::size_t d = 0; d < s.rank; ++d) n *= s.shape[d];
  return n;
}

// binary(op, shape, a, aStrides, b, bStrides, out)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  F32 a = f32(info, 2), b = f32(info, 4), out = f32(info, 6);
  StridedLayout s = layoutFrom(info, 1, {{3, &a}, {5, &b}});
  need(info, out, elements(s), "out");
  if (elements(s) == 0) return info.Env().Undefined();
  binaryForward(static_cast<BinaryOp>(info[0].As<Napi::Number>().Int32Value()), s, a.data, b.data, out.data);
  return info.Env().Undefined();
}

// copyStrided(shape, src, srcStrides, dst)
Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  F32 src = f32(info, 1), dst = f32(info, 3);
  StridedLayout s = layoutFrom(info, 0, {{2, &src}});
  need(info, dst, elements(s), "dst");
  if (elements(s) == 0) return info.Env().Undefined();
  copyStrided(s, src.data, dst.data);
  return info.Env().Undefined();
}

// reduceSum(shape, src, outStrides, out, scale)
Napi::Value ReduceSum(const Napi::CallbackInfo& info) {
  F32 src = f32(info, 1), out = f32(info, 3);
  StridedLayout s = layoutFrom(info, 0, {{2, &out}});
  need(info, src, elements(s), "src");
  reduceSum(s, src.data, out.data, out.length, info[4].As<Napi::Number>().DoubleValue());  // the scale as JavaScript holds it: a double
  return info.Env().Undefined();
}

// ropeRotate(src, dst, cos, sin, rows, T, D, direction)
Napi::Value RopeRotate(const Napi::CallbackInfo& info) {
  F32 src = f32(info, 0), dst = f32(info, 1), c = f32(info, 2), sn = f32(info, 3);
  const std::size_t rows = sz(info, 4), T = sz(info, 5), D = sz(info, 6);
  if (D % 2 != 0 || (rows > 0 && T == 0)) throw Napi::RangeError::New(info.Env(), "ropeRotate: D must be even and T positive");
  need(info, src, rows * D, "src"); need(info, dst, rows * D, "dst");
  need(info, c, T * (D / 2), "cos"); need(info, sn, T * (D / 2), "sin");
  ropeRotate(src.data, dst.data, c.data, sn.data, rows, T, D, num(info, 7));
  return info.Env().Undefined();
}

// sumOfSquares(buffer, n) -> number
Napi::Value SumOfSquares(const Napi::CallbackInfo& info) {
  F32 x = f32(info, 0);
  const std::size_t n = sz(info, 1);
  need(info, x, n, "buffer");
  return Napi::Number::New(info.Env(), sumOfSquares(x.data, n));
}

// scaleInPlace(buffer, s, n): s as JavaScript holds it, a double
Napi::Value ScaleInPlace(const Napi::CallbackInfo& info) {
  F32 x = f32(info, 0);
  const std::size_t n = sz(info, 2);
  need(info, x, n, "buffer");
  scaleInPlace(x.data, info[1].As<Napi::Number>().DoubleValue(), n);
  return info.Env().Undefined();
}

// adamwUpdate(w, grad, m, v, n, step): step holds the AdamWStep's fields by name (backend.ts), all doubles.
Napi::Value AdamwUpdate(const Napi::CallbackInfo& info) {
  F32 w = f32(info, 0), g = f32(info, 1), m = f32(info, 2), v = f32(info, 3);
  const std::size_t n = sz(info, 4);
  need(info, w, n, "w"); need(info, g, n, "grad"); need(info, m, n, "m"); need(info, v, n, "v");
  const Napi::Object o = info[5].As<Napi::Object>();
  const auto field = [&](const char* name) {
    const Napi::Value x = o.Get(name);
    if (!x.IsNumber()) throw Napi::TypeError::New(info.Env(), std::string("adamwUpdate: step.") + name + " must be a number");
    return x.As<Napi::Number>().DoubleValue();
  };
  const AdamWStep s{field("beta1"), field("beta2"), field("eps"), field("decay"), field("stepSize"), field("sqrtBc2")};
  adamwUpdate(w.data, g.data, m.data, v.data, n, s);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, MapFile));
  exports.Set("splitBlocks", Napi::Function::New(env, SplitBlocks));
  exports.Set("releaseMappedPages", Napi::Function::New(env, ReleaseMappedPages));
  exports.Set("adviseHugePages", Napi::Function::New(env, AdviseHugePages));
  exports.Set("discardPages", Napi::Function::New(env, DiscardPages));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("copyStrided", Napi::Function::New(env, CopyStrided));
  exports.Set("reduceSum", Napi::Function::New(env, ReduceSum));
  exports.Set("adamwUpdate", Napi::Function::New(env, AdamwUpdate));
  exports.Set("sumOfSquares", Napi::Function::New(env, SumOfSquares));
  exports.Set("scaleInPlace", Napi::Function::New(env, ScaleInPlace));
  exports.Set("ropeRotate", Napi::Function::New(env, RopeRotate));
  exports.Set("swigluForward", Napi::Function::New(env, SwigluForward));
  exports.Set("dropoutMultiply", Napi::Function::New(env, DropoutMultiply));
  exports.Set("swigluBackward", Napi::Function::New(env, SwigluBackward));
  exports.Set("gemm", Napi::Function::New(env, Gemm));
  exports.Set("gemmQuantized", Napi::Function::New(env, GemmQuantized));
  exports.Set("quantizeRows", Napi::Function::New(env, QuantizeRows));
  exports.Set("measurePeak", Napi::Function::New(env, MeasurePeak));
  exports.Set("measureStream", Napi::Function::New(env, MeasureStream));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("setGemmKernel", Napi::Function::New(env, SetGemmKernel));
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo));
  exports.Set("setBf16Compute", Napi::Function::New(env, SetBf16Compute));
  exports.Set("setBf16Kernel", Napi::Function::New(env, SetBf16Kernel));
  exports.Set("setInt8Activations", Napi::Function::New(env, SetInt8Activations));
  exports.Set("rmsNormForward", Napi::Function::New(env, RmsNormForward));
  exports.Set("rmsNormBackward", Napi::Function::New(env, RmsNormBackward));
  exports.Set("layerNormForward", Napi::Function::New(env, LayerNormForward));
  exports.Set("layerNormBackward", Napi::Function::New(env, LayerNormBackward));
  exports.Set("softmaxForward", Napi::Function::New(env, RowsUnary<softmaxForward>));
  exports.Set("softmaxBackward", Napi::Function::New(env, RowsBackward<softmaxBackward>));
  exports.Set("logSoftmaxForward", Napi::Function::New(env, RowsUnary<logSoftmaxForward>));
  exports.Set("logSoftmaxBackward", Napi::Function::New(env, RowsBackward<logSoftmaxBackward>));
  exports.Set("crossEntropyForward", Napi::Function::New(env, CrossEntropyForward));
  exports.Set("crossEntropyBackward", Napi::Function::New(env, CrossEntropyBackward));
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
  exports.Set("activationForward", Napi::Function::New(env, ActivationForward));
  exports.Set("activationBackward", Napi::Function::New(env, ActivationBackward));
  return exports;
}

}  // namespace

NODE_API_MODULE(giftjs_native, Init)

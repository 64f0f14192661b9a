// Pointwise activations, forward and derivative side by side. On AVX-512 the GELUs and SiLU run 16
// lanes at a time on the vectorised exp (scalar libm calls were a tenth of a ViT-B/16 step):
//   GELU (erf):  1 + erf(z) from erf's Taylor series below |z| = 1 and from erfc(|z|) = exp(-z^2) R(|z|)
//                above it (R fitted on [1, 6]: tools/fit_erfc_tail.py; past 6 erfc is below 2e-17 and
//                taken as 0), so that 1 + erf(z) keeps its relative accuracy where it is tiny (z << 0);
//   GELU (tanh): 1 + tanh(u) = 2 sigmoid(2u), no cancellation, 1 - tanh^2 = 4 s (1 - s);
//   SiLU:        x sigmoid(x);
//   ReLU:        x where x > 0 or x is NaN, else 0 (a compare and a masked move).
// tanh (a pooler's, one row per sequence) stays scalar, in double as the reference computes it. Elsewhere, and for the tails of arrays shorter than 16, the scalar formulas below.
#include <algorithm>
#include <cmath>

#include "vec_exp.h"

#include "../runtime/cpu_features.h"
#include "../runtime/parallel.h"
#include "kernels.h"

namespace giftjs {

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Low = 1.2101617e-08f;  // 1/sqrt(2) - kInvSqrt2
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

inline float forward(Activation a, float x) {
  switch (a) {
    case Activation::GeluErf:
      return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
    case Activation::GeluTanh:
      return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    case Activation::Silu:
      return x / (1.0f + std::exp(-x));
    case Activation::Relu:
      return x > 0.0f || x != x ? x : 0.0f;  // NaN passes through
    case Activation::Tanh:  // in double, as the reference computes it, so that both backends train alike
      return static_cast<float>(std::tanh(static_cast<double>(x)));
  }
  return 0.0f;
}

inline float derivative(Activation a, float x) {
  switch (a) {
    case Activation::GeluErf:
      return 0.5f * (1.0f + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5f * x * x);
    case Activation::GeluTanh: {
      const float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
      const float t = std::tanh(u);
      const float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
      return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    case Activation::Silu: {
      const float s = 1.0f / (1.0f + std::exp(-x));
      return s * (1.0f + x * (1.0f - s));
    }
    case Activation::Relu:  // 0 at 0; NaN for NaN, so that dy * NaN stays NaN
      return x > 0.0f ? 1.0f : x != x ? x : 0.0f;
    case Activation::Tanh:  // tanhBackward multiplies dy by the derivative in double instead
      break;
  }
  return 0.0f;
}

// dy * tanh'(x), the product in double and rounded once, as the reference computes it (dy times a
// derivative rounded to float32 first would differ from it in the last bit).
inline float tanhBackward(float x, float dy) {
  const double t = std::tanh(static_cast<double>(x));
  return static_cast<float>(static_cast<double>(dy) * (1.0 - t * t));
}
#if defined(__x86_64__)
#define GIFTJS_ACT_TARGET __attribute__((target("avx512f,fma")))

// erf(z) / z = 2/sqrt(pi) sum_n (-1)^n z^(2n) / (n! (2n + 1)), ten terms (|z| < 1: 2e-7 relative in float32).
constexpr float kErfTaylor[] = {1.128379167e+00f, -3.761263890e-01f, 1.128379167e-01f, -2.686617065e-02f, 5.223977625e-03f,
                                -8.548327023e-04f, 1.205533298e-04f, -1.492565036e-05f, 1.646211437e-06f, -1.636584469e-07f};
// erfc(z) exp(z^2) on [1, 6] in u = (z - 3.5) / 2.5, lowest degree first (tools/fit_erfc_tail.py: 2.2e-7 relative).
constexpr float kErfcTail[] = {1.552936584e-01f, -1.033089384e-01f, 6.663207710e-02f, -4.176696017e-02f, 2.549578436e-02f,
                               -1.518002618e-02f, 8.831051178e-03f, -5.043991841e-03f, 2.815716201e-03f, -1.479122555e-03f,
                               7.863838691e-04f, -5.329243140e-04f, 2.843432012e-04f, -1.246783449e-05f, 1.377631634e-06f,
                               -7.906863902e-05f, 3.968487363e-05f};

template <std::size_t N>
GIFTJS_ACT_TARGET inline __m512 horner(const float (&c)[N], __m512 x) {
  __m512 p = _mm512_set1_ps(c[N - 1]);
  for (std::size_t k = N - 1; k-- > 0;) p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(c[k]));
  return p;
}

// 1 + erf(x / sqrt(2)). NaN stays NaN; +-inf give 2 and 0. z = x / sqrt(2) is carried with its rounding
// error (zlo), since exp(-z^2) multiplies z's relative error by 2 z^2 (50 at z = 5).
GIFTJS_ACT_TARGET inline __m512 onePlusErfOfScaled16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 c = _mm512_set1_ps(kInvSqrt2);
  const __m512 z = _mm512_mul_ps(x, c);
  const __m512 zlo = _mm512_fmadd_ps(x, _mm512_set1_ps(kInvSqrt2Low), _mm512_fmsub_ps(x, c, z));
  const __m512 a = _mm512_abs_ps(z);
  const __m512 w = _mm512_mul_ps(z, z);
  const __m512 small = _mm512_fmadd_ps(z, horner(kErfTaylor, w), one);
  const __m512 u = _mm512_mul_ps(_mm512_sub_ps(_mm512_min_ps(a, _mm512_set1_ps(6.0f)), _mm512_set1_ps(3.5f)), _mm512_set1_ps(0.4f));
  // exp(-z^2) with the rounding errors of z and of z^2 = w + lo taken back: exp(-w) (1 - lo).
  const __m512 lo = _mm512_fmadd_ps(_mm512_add_ps(z, z), zlo, _mm512_fmsub_ps(z, z, w));
  const __m512 gauss = _mm512_mul_ps(exp16(_mm512_sub_ps(_mm512_setzero_ps(), w)), _mm512_sub_ps(one, lo));
  __m512 erfc = _mm512_mul_ps(gauss, horner(kErfcTail, u));
  erfc = _mm512_maskz_mov_ps(static_cast<__mmask16>(~_mm512_cmp_ps_mask(a, _mm512_set1_ps(6.0f), _CMP_GT_OQ)), erfc);
  const __mmask16 negative = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 large = _mm512_mask_mov_ps(_mm512_sub_ps(_mm512_set1_ps(2.0f), erfc), negative, erfc);
  const __mmask16 inside = _mm512_cmp_ps_mask(a, one, _CMP_LT_OQ);
  return _mm512_mask_mov_ps(_mm512_mask_mov_ps(large, inside, small), _mm512_cmp_ps_mask(z, z, _CMP_UNORD_Q), z);
}

// 1 / (1 + exp(-x)).
GIFTJS_ACT_TARGET inline __m512 sigmoid16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

// The GELU-tanh argument u = sqrt(2/pi) (x + 0.044715 x^3) and du/dx.
GIFTJS_ACT_TARGET inline __m512 tanhArgument16(__m512 x, __m512 x2) {
  return _mm512_mul_ps(_mm512_set1_ps(kSqrt2OverPi), _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), x2), x, x));
}

GIFTJS_ACT_TARGET __m512 forward16(Activation a, __m512 x) {
  switch (a) {
    case Activation::GeluErf:
      return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), onePlusErfOfScaled16(x));
    case Activation::GeluTanh:  // 0.5 x (1 + tanh u) = x sigmoid(2u)
      return _mm512_mul_ps(x, sigmoid16(_mm512_mul_ps(_mm512_set1_ps(2.0f), tanhArgument16(x, _mm512_mul_ps(x, x)))));
    case Activation::Silu:
      return _mm512_mul_ps(x, sigmoid16(x));
    case Activation::Relu:  // kept where x > 0 or unordered (NaN)
      return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NLE_UQ), x);
    case Activation::Tanh:
      break;
  }
  return x;
}

GIFTJS_ACT_TARGET __m512 derivative16(Activation a, __m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  switch (a) {
    case Activation::GeluErf: {
      const __m512 gauss = exp16(_mm512_mul_ps(_mm512_set1_ps(-0.5f), _mm512_mul_ps(x, x)));
      return _mm512_fmadd_ps(_mm512_mul_ps(x, _mm512_set1_ps(kInvSqrt2Pi)), gauss,
                             _mm512_mul_ps(_mm512_set1_ps(0.5f), onePlusErfOfScaled16(x)));
    }
    case Activation::GeluTanh: {  // s + x * 2 s (1 - s) du/dx with s = sigmoid(2u)
      const __m512 x2 = _mm512_mul_ps(x, x);
      const __m512 s = sigmoid16(_mm512_mul_ps(_mm512_set1_ps(2.0f), tanhArgument16(x, x2)));
      const __m512 du = _mm512_mul_ps(_mm512_set1_ps(kSqrt2OverPi), _mm512_fmadd_ps(_mm512_set1_ps(3.0f * 0.044715f), x2, one));
      const __m512 ds = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(2.0f), s), _mm512_sub_ps(one, s));
      return _mm512_fmadd_ps(_mm512_mul_ps(x, ds), du, s);
    }
    case Activation::Silu: {
      const __m512 s = sigmoid16(x);
      return _mm512_mul_ps(s, _mm512_fmadd_ps(x, _mm512_sub_ps(one, s), one));
    }
    case Activation::Relu: {  // 1 where x > 0, NaN where x is NaN, else 0
      const __m512 d = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), one);
      return _mm512_mask_mov_ps(d, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
    }
    case Activation::Tanh:
      break;
  }
  return x;
}

// Whole vectors of [i0, i1); returns where the scalar loop takes over.
GIFTJS_ACT_TARGET std::size_t forward512(Activation a, const float* x, float* y, std::size_t i0, std::size_t i1) {
  std::size_t i = i0;
  for (; i + 16 <= i1; i += 16) _mm512_storeu_ps(y + i, forward16(a, _mm512_loadu_ps(x + i)));
  return i;
}

GIFTJS_ACT_TARGET std::size_t backward512(Activation a, const float* x, const float* dy, float* dx, std::size_t i0, std::size_t i1) {
  std::size_t i = i0;
  for (; i + 16 <= i1; i += 16) _mm512_storeu_ps(dx + i, _mm512_mul_ps(_mm512_loadu_ps(dy + i), derivative16(a, _mm512_loadu_ps(x + i))));
  return i;
}
#endif

}  // namespace

void activationForward(Activation a, const float* x, float* y, std::size_t n) {
  parallelChunks(n, 16384, [&](std::size_t i0, std::size_t i1) {
    std::size_t i = i0;
#if defined(__x86_64__)
    if (cpuHasAvx512() && a != Activation::Tanh) i = forward512(a, x, y, i0, i1);
#endif
    for (; i < i1; ++i) y[i] = forward(a, x[i]);
  });
}

void activationBackward(Activation a, const float* x, const float* dy, float* dx, std::size_t n) {
  parallelChunks(n, 16384, [&](std::size_t i0, std::size_t i1) {
    std::size_t i = i0;
#if defined(__x86_64__)
    if (cpuHasAvx512() && a != Activation::Tanh) i = backward512(a, x, dy, dx, i0, i1);
#endif
    for (; i < i1; ++i) dx[i] = a == Activation::Tanh ? tanhBackward(x[i], dy[i]) : dy[i] * derivative(a, x[i]);
  });
}

// SwiGLU fused: one pass each way, silu recomputed in backward (nothing saved between the passes).
// exp(-gate) comes from the vectorised exp a block at a time; the rest is plain arithmetic the
// compiler vectorises. sigmoid(g) = 1 / (1 + exp(-g)): exp overflowing to +inf gives 0, as it should.
namespace {
constexpr std::size_t kBlock = 512;
}

void swigluForward(const float* gate, const float* up, float* y, std::size_t n) {
  parallelChunks(n, 16384, [&](std::size_t i0, std::size_t i1) {
    float e[kBlock];
    for (std::size_t b0 = i0; b0 < i1; b0 += kBlock) {
      const std::size_t m = std::min(kBlock, i1 - b0);
      expScaled(gate + b0, -1.0f, e, m);
      for (std::size_t i = 0; i < m; ++i) y[b0 + i] = gate[b0 + i] / (1.0f + e[i]) * up[b0 + i];
    }
  });
}

void swigluBackward(const float* gate, const float* up, const float* dy, float* dgate, float* dup, std::size_t n) {
  parallelChunks(n, 16384, [&](std::size_t i0, std::size_t i1) {
    float e[kBlock];
    for (std::size_t b0 = i0; b0 < i1; b0 += kBlock) {
      const std::size_t m = std::min(kBlock, i1 - b0);
      expScaled(gate + b0, -1.0f, e, m);
      // The sigmoid first, then one loop per output: a test per element kept these scalar.
      for (std::size_t i = 0; i < m; ++i) e[i] = 1.0f / (1.0f + e[i]);
      const float* g = gate + b0;
      const float* d = dy + b0;
      if (dgate) {
        const float* u = up + b0;
        float* out = dgate + b0;
        for (std::size_t i = 0; i < m; ++i) out[i] = d[i] * u[i] * (e[i] * (1.0f + g[i] * (1.0f - e[i])));
      }
      if (dup) {
        float* out = dup + b0;
        for (std::size_t i = 0; i < m; ++i) out[i] = d[i] * (g[i] * e[i]);
      }
    }
  });
}

}  // namespace giftjs

// Pointwise activations, forward and derivative side by side.
#include <algorithm>
#include <cmath>

#include "vec_exp.h"

#include "../runtime/parallel.h"
#include "kernels.h"

namespace giftjs {

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

inline float forward(Activation a, float x) {
  switch (a) {
    case Activation::GeluErf:
      return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
    case Activation::GeluTanh:
      return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
    case Activation::Silu:
      return x / (1.0f + std::exp(-x));
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
  }
  return 0.0f;
}
}  // namespace

void activationForward(Activation a, const float* x, float* y, std::size_t n) {
  parallelChunks(n, 16384, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) y[i] = forward(a, x[i]);
  });
}

void activationBackward(Activation a, const float* x, const float* dy, float* dx, std::size_t n) {
  parallelChunks(n, 16384, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) dx[i] = dy[i] * derivative(a, x[i]);
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

// Pointwise activations, forward and derivative side by side.
#include <cmath>

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
void swigluForward(const float* gate, const float* up, float* y, std::size_t n) {
  parallelChunks(n, 16384, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) y[i] = forward(Activation::Silu, gate[i]) * up[i];
  });
}

void swigluBackward(const float* gate, const float* up, const float* dy, float* dgate, float* dup, std::size_t n) {
  parallelChunks(n, 16384, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      const float g = gate[i];
      const float s = 1.0f / (1.0f + std::exp(-g));
      if (dgate) dgate[i] = dy[i] * up[i] * (s * (1.0f + g * (1.0f - s)));
      if (dup) dup[i] = dy[i] * (g * s);
    }
  });
}

}  // namespace giftjs

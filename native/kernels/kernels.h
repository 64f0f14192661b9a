// Native kernels for the ops that dominate a Transformer step besides GEMM. Every array is
// contiguous float32, row-major; `rows` x `cols` means rows independent vectors of length cols.
// Outputs marked "nullable" are skipped when null (a frozen weight's gradient is never computed).
// Gradients of weights (dw, db) are accumulated (+=), gradients of activations overwritten.
#pragma once
#include <cstddef>
#include <cstdint>

#include "strided.h"

namespace giftjs {

// RMSNorm: y = x / sqrt(mean(x^2) + eps) * w. Saves rstd [rows] for the backward.
void rmsNormForward(const float* x, const float* w, float* y, float* rstd, std::size_t rows,
                    std::size_t cols, float eps);
void rmsNormBackward(const float* x, const float* w, const float* rstd, const float* dy,
                     float* dx /*nullable*/, float* dw /*nullable*/, std::size_t rows,
                     std::size_t cols);

// LayerNorm: y = (x - mean) / sqrt(var + eps) * w + b (w and b nullable). Saves mean, rstd.
void layerNormForward(const float* x, const float* w, const float* b, float* y, float* mean,
                      float* rstd, std::size_t rows, std::size_t cols, float eps);
void layerNormBackward(const float* x, const float* w, const float* mean, const float* rstd,
                       const float* dy, float* dx, float* dw, float* db, std::size_t rows,
                       std::size_t cols);

void softmaxForward(const float* x, float* y, std::size_t rows, std::size_t cols);
void softmaxBackward(const float* y, const float* dy, float* dx, std::size_t rows,
                     std::size_t cols);
void logSoftmaxForward(const float* x, float* y, std::size_t rows, std::size_t cols);
void logSoftmaxBackward(const float* y, const float* dy, float* dx, std::size_t rows,
                        std::size_t cols);

// Cross-entropy per row against integer targets; rows whose target == ignoreIndex get loss 0.
// Saves only the log-sum-exp per row: the backward recomputes softmax from the logits, so the
// probabilities are never stored (a 128k vocabulary costs one logits-sized gradient, no more).
void crossEntropyForward(const float* logits, const int32_t* targets, float* loss, float* lse,
                         std::size_t rows, std::size_t vocab, int32_t ignoreIndex);
void crossEntropyBackward(const float* logits, const int32_t* targets, const float* lse,
                          const float* rowScale, float* dlogits, std::size_t rows,
                          std::size_t vocab, int32_t ignoreIndex);

// Scaled dot-product attention. q [B, H, T, D], k and v [B, Hkv, S, D] (H % Hkv == 0:
// query head h reads key/value head h / (H / Hkv)), out [B, H, T, D], lse [B, H, T].
// causal: query t sits at absolute position t + S - T and sees keys j <= that position.
// window (causal only; 0 = none): the query at position p sees only keys p - window < j <= p.
// softcap (0 = none): the scaled scores are soft-capped, softcap * tanh(s / softcap), before the softmax.
// keyMask [B, S] (nullable): 0 marks a padded key that no query may attend to.
struct AttentionShape {
  std::size_t B, H, Hkv, T, S, D;
  float scale;
  bool causal;
  std::size_t window;
  float softcap;  // > 0: scores become softcap * tanh(score / softcap) (Gemma 2)
  bool segmented;  // packed sequences: keyMask holds segment ids, a query sees its own segment's keys
  // Rows each key/value head holds in k and v: S, or more for a KV cache allocated ahead (its first
  // S rows are the keys). The backward takes kvRows == S.
  std::size_t kvRows;
  // Dropout on the probabilities before they weigh V (drop false: none): probability (b, h, t, j) is
  // dropped where dropoutDraw(dropKey0, dropKey1, ((b H + h) T + t) S + j) < dropBelow
  // (dropout_mask.h), the others scaled by keepScale; the backward draws the same mask again.
  bool drop = false;
  std::uint32_t dropKey0 = 0, dropKey1 = 0, dropBelow = 0;
  float keepScale = 1.0f;
};
void attentionForward(const AttentionShape& s, const float* q, const float* k, const float* v,
                      const float* keyMask, float* out, float* lse);
void attentionBackward(const AttentionShape& s, const float* q, const float* k, const float* v,
                       const float* keyMask, const float* out, const float* lse,
                       const float* dout, float* dq, float* dk, float* dv);

// (The values are the TypeScript ActivationKind's.) ReLU passes NaN through and has derivative 0 at 0, as PyTorch.
enum class Activation : int { GeluErf = 0, GeluTanh = 1, Silu = 2, Relu = 3, Tanh = 4 };
void activationForward(Activation a, const float* x, float* y, std::size_t n);
// dx = dy * act'(x)
void activationBackward(Activation a, const float* x, const float* dy, float* dx, std::size_t n);
// y = silu(gate) * up; backward: dgate = dy * up * silu'(gate), dup = dy * silu(gate) (either may be null).
void swigluForward(const float* gate, const float* up, float* y, std::size_t n);
void swigluBackward(const float* gate, const float* up, const float* dy, float* dgate, float* dup, std::size_t n);

// Inverted dropout: out[i] = x[i] * (draw(key0, key1, i) < dropBelow ? 0 : keepScale), the draw the
// counter-based hash of dropout.cpp (the same as src/backend/ref/dropout.ts). out may be x.
void dropoutMultiply(const float* x, float* out, std::size_t n, std::uint32_t key0, std::uint32_t key1, std::uint32_t dropBelow,
                     float keepScale);

// out = a op b over the output shape of `s`, a read through s.strides[0], b through s.strides[1]
// (0 along broadcast dimensions). out is contiguous and may alias a contiguous operand.
enum class BinaryOp : int { Add = 0, Sub = 1, Mul = 2, Div = 3 };
void binaryForward(BinaryOp op, const StridedLayout& s, const float* a, const float* b, float* out);
// dst (contiguous, s.shape) = src read through s.strides[0]: permutes and broadcasts.
void copyStrided(const StridedLayout& s, const float* src, float* dst);
// out[0, outLength) = scale * sums of src (contiguous, s.shape) into the offsets s.strides[0] gives
// (0 along summed dimensions); outputs no value reaches are 0. Summed in double, in row order.
void reduceSum(const StridedLayout& s, const float* src, float* out, std::size_t outLength, double scale);

// RoPE, rotate-half form, on rows of D values (row r at position r % T): cos/sin are [T, D/2];
// direction +1 rotates (forward), -1 rotates back (the backward). src may equal dst.
void ropeRotate(const float* src, float* dst, const float* cos, const float* sin, std::size_t rows,
                std::size_t T, std::size_t D, float direction);

// AdamW's update of n parameters w with gradient g and moments m, v, in place (adamw.cpp):
// m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2,
// w = w * decay - stepSize * m / (sqrt(v) / sqrtBc2 + eps), each in double as the reference backend.
struct AdamWStep {
  double beta1, beta2, eps;
  double decay;     // 1 - lr * weight decay
  double stepSize;  // lr / (1 - beta1^t)
  double sqrtBc2;   // sqrt(1 - beta2^t)
};
void adamwUpdate(float* w, const float* g, float* m, float* v, std::size_t n, const AdamWStep& s);

// The sum of squares of n values in double, in the order sum_of_squares.cpp fixes by n alone (blocks
// of kSquaresBlock, 8 lanes each), the reference backend's too; and x[i] = x[i] * s rounded once.
constexpr std::size_t kSquaresBlock = 4096;
double sumOfSquares(const float* x, std::size_t n);
void scaleInPlace(float* x, double s, std::size_t n);

}  // namespace giftjs

// Scaled dot-product attention, forward and backward side by side, one (batch, head) per task.
// The forward saves only the log-sum-exp of each score row; the backward recomputes the
// probabilities from Q, K and that lse, so no [T, S] matrix outlives a task (the same trade
// FlashAttention makes, done per head with the packed GEMM rather than in tiles).
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "../gemm/gemm.h"
#include "../runtime/thread_pool.h"
#include "kernels.h"
#include "vec_exp.h"

namespace giftjs {

namespace {

inline bool keyVisible(const AttentionShape& s, const float* keyMask, std::size_t b,
                       std::size_t t, std::size_t j) {
  if (s.causal && j > t + s.S - s.T) return false;
  return !keyMask || keyMask[b * s.S + j] != 0.0f;
}

// scores = scale * Q K^T for one head, written into `scores` [T, S].
void headScores(const AttentionShape& s, const float* q, const float* k, float* scores) {
  GemmProblem p;
  p.transB = true;
  p.M = s.T; p.N = s.S; p.K = s.D;
  p.alpha = s.scale;
  p.A = q; p.lda = s.D;
  p.B = k; p.ldb = s.D;
  p.C = scores; p.ldc = s.S;
  gemmSerial(p, selectKernel());
}

// C (M x N) = alpha * op(A) * op(B) + beta * C on the calling thread.
void matmulSerial(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, const float* A,
                  std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
                  std::size_t ldc) {
  GemmProblem p;
  p.transA = ta; p.transB = tb;
  p.M = M; p.N = N; p.K = K;
  p.A = A; p.lda = lda; p.B = B; p.ldb = ldb;
  p.beta = beta; p.C = C; p.ldc = ldc;
  gemmSerial(p, selectKernel());
}

}  // namespace

void attentionForward(const AttentionShape& s, const float* q, const float* k, const float* v,
                      const float* keyMask, float* out, float* lse) {
  const std::size_t group = s.H / s.Hkv;
  ThreadPool::instance().parallelFor(s.B * s.H, [&](std::size_t task) {
    const std::size_t b = task / s.H, h = task % s.H, hk = h / group;
    const float* qh = q + task * s.T * s.D;
    const float* kh = k + (b * s.Hkv + hk) * s.S * s.D;
    const float* vh = v + (b * s.Hkv + hk) * s.S * s.D;
    thread_local std::vector<float> scores;
    scores.resize(s.T * s.S);
    headScores(s, qh, kh, scores.data());
    for (std::size_t t = 0; t < s.T; ++t) {
      float* row = scores.data() + t * s.S;
      for (std::size_t j = 0; j < s.S; ++j)
        if (!keyVisible(s, keyMask, b, t, j)) row[j] = -INFINITY;
      const float mx = rowMax(row, s.S);
      if (mx == -INFINITY) {  // nothing visible: the output row is zero
        for (std::size_t j = 0; j < s.S; ++j) row[j] = 0.0f;
        lse[task * s.T + t] = -INFINITY;
        continue;
      }
      const float sum = expShifted(row, mx, row, s.S);
      const float inv = 1.0f / sum;
      for (std::size_t j = 0; j < s.S; ++j) row[j] *= inv;
      lse[task * s.T + t] = mx + std::log(sum);
    }
    matmulSerial(false, false, s.T, s.D, s.S, scores.data(), s.S, vh, s.D, 0.0f,
                 out + task * s.T * s.D, s.D);
  });
}

void attentionBackward(const AttentionShape& s, const float* q, const float* k, const float* v,
                       const float* keyMask, const float* out, const float* lse,
                       const float* dout, float* dq, float* dk, float* dv) {
  const std::size_t group = s.H / s.Hkv;
  const std::size_t headKV = s.S * s.D;
  // Each query head writes its share of dK and dV into its own slot; slots of one key/value
  // head are summed afterwards, so tasks never write the same memory.
  std::vector<float> dkHeads(dk ? s.B * s.H * headKV : 0), dvHeads(dv ? s.B * s.H * headKV : 0);
  ThreadPool::instance().parallelFor(s.B * s.H, [&](std::size_t task) {
    const std::size_t b = task / s.H, h = task % s.H, hk = h / group;
    const float* qh = q + task * s.T * s.D;
    const float* oh = out + task * s.T * s.D;
    const float* gh = dout + task * s.T * s.D;
    const float* kh = k + (b * s.Hkv + hk) * headKV;
    const float* vh = v + (b * s.Hkv + hk) * headKV;
    thread_local std::vector<float> probs, dprobs;
    probs.resize(s.T * s.S);
    dprobs.resize(s.T * s.S);
    float* P = probs.data();
    float* dP = dprobs.data();
    headScores(s, qh, kh, P);
    for (std::size_t t = 0; t < s.T; ++t) {
      const float l = lse[task * s.T + t];
      float* row = P + t * s.S;
      if (l == -INFINITY) {
        for (std::size_t j = 0; j < s.S; ++j) row[j] = 0.0f;
        continue;
      }
      for (std::size_t j = 0; j < s.S; ++j)
        if (!keyVisible(s, keyMask, b, t, j)) row[j] = -INFINITY;
      expShifted(row, l, row, s.S);
    }
    if (dv) matmulSerial(true, false, s.S, s.D, s.T, P, s.S, gh, s.D, 0.0f, dvHeads.data() + task * headKV, s.D);
    if (!dq && !dk) return;
    // dP = dO V^T, then dS = P * (dP - rowsum(dO * O)) * scale, stored over dP.
    matmulSerial(false, true, s.T, s.S, s.D, gh, s.D, vh, s.D, 0.0f, dP, s.S);
    for (std::size_t t = 0; t < s.T; ++t) {
      float di = 0.0f;
      for (std::size_t d = 0; d < s.D; ++d) di += gh[t * s.D + d] * oh[t * s.D + d];
      float* dpr = dP + t * s.S;
      const float* pr = P + t * s.S;
      for (std::size_t j = 0; j < s.S; ++j) dpr[j] = pr[j] * (dpr[j] - di) * s.scale;
    }
    if (dq) matmulSerial(false, false, s.T, s.D, s.S, dP, s.S, kh, s.D, 0.0f, dq + task * s.T * s.D, s.D);
    if (dk) matmulSerial(true, false, s.S, s.D, s.T, dP, s.S, qh, s.D, 0.0f, dkHeads.data() + task * headKV, s.D);
  });
  ThreadPool::instance().parallelFor(s.B * s.Hkv, [&](std::size_t task) {
    const std::size_t b = task / s.Hkv, hk = task % s.Hkv;
    for (float* target : {dk, dv}) {
      if (!target) continue;
      const std::vector<float>& heads = target == dk ? dkHeads : dvHeads;
      float* dst = target + task * headKV;
      std::memset(dst, 0, headKV * sizeof(float));
      for (std::size_t g = 0; g < group; ++g) {
        const float* src = heads.data() + (b * s.H + hk * group + g) * headKV;
        for (std::size_t i = 0; i < headKV; ++i) dst[i] += src[i];
      }
    }
  });
}

}  // namespace giftjs

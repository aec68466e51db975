// CPU attention: OpenMP over (batch, head); per head the two products are
// cblas_sgemm calls on the strided [batch, seq, heads, head_dim] tensors (lda =
// heads * head_dim, no copies) around a masked softmax in a per-thread
// seq_len x seq_len scratch allocated before the parallel loop.
#include "cpu/attention.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace hybrec::kernels::cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// GCC (12) will not if-convert a floating-point select such as a clamp while
// -ftrapping-math (the default) is on, which leaves the exp loops scalar and
// costs as much as the GEMMs at head_dim 64. Trap flags are never read here,
// so the softmax loops are compiled without them. The build targets baseline
// x86-64 (SSE2), so the row loops also get an AVX2/FMA clone picked at load
// time: measured 1.25x on the whole forward at L = 200, head_dim 64.
#if defined(__GNUC__) && !defined(__clang__)
#define HYBREC_SIMD_MATH __attribute__((optimize("no-trapping-math")))
#else
#define HYBREC_SIMD_MATH
#endif
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define HYBREC_SIMD_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define HYBREC_SIMD_CLONES
#endif

// exp(x) in the style of Cephes expf (about 1 ulp), written with plain
// arithmetic and selects so the softmax loops vectorise (libm's expf does not).
// exp(-inf) is exactly 0, which masked keys rely on.
HYBREC_SIMD_MATH inline float vexp(float x) {
  float xc = x > -87.0f ? x : -87.0f;
  xc = xc < 88.0f ? xc : 88.0f;
  // Round x*log2(e) to the nearest integer with the 1.5*2^23 trick (no
  // SSE4.1 round needed); exact under the default strict FP semantics.
  constexpr float kMagic = 12582912.0f;
  const float n = (xc * 1.44269504088896341f + kMagic) - kMagic;
  // Cody-Waite: r = x - n*ln2 with ln2 split in a short exact part and the rest.
  const float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;
  const float r2 = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r2 + r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  const float e = y * __builtin_bit_cast(float, bits);
  return x > -87.0f ? e : 0.0f;
}

// One past the last unpadded key: keys at or beyond it are never attended, so
// the GEMMs can stop there (trailing padding is the common case).
std::int64_t key_extent(const std::uint8_t* mask_row, std::int64_t seq_len) {
  std::int64_t n = seq_len;
  if (mask_row != nullptr) {
    while (n > 0 && mask_row[n - 1] != 0) --n;
  }
  return n;
}

// 0 for an attendable key, -inf for a padded one, over [0, n).
void fill_key_bias(const std::uint8_t* mask_row, std::int64_t n, float* bias) {
  for (std::int64_t j = 0; j < n; ++j) {
    bias[j] = (mask_row != nullptr && mask_row[j] != 0) ? kNegInf : 0.0f;
  }
}

// Scores s[0, n) of one query (already scaled) become probabilities over the
// first `attend` keys and zeros beyond; returns the log-sum-exp, -inf when
// every key is masked (then the row is all zeros).
HYBREC_SIMD_MATH HYBREC_SIMD_CLONES float softmax_row(float* s, const float* bias,
                                                      std::int64_t attend, std::int64_t n) {
  float mx = kNegInf;
#pragma omp simd reduction(max : mx)
  for (std::int64_t j = 0; j < attend; ++j) {
    s[j] += bias[j];
    mx = s[j] > mx ? s[j] : mx;
  }
  if (mx == kNegInf) {
    std::fill(s, s + n, 0.0f);
    return kNegInf;
  }
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (std::int64_t j = 0; j < attend; ++j) {
    s[j] = vexp(s[j] - mx);
    sum += s[j];
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (std::int64_t j = 0; j < attend; ++j) s[j] *= inv;
  std::fill(s + attend, s + n, 0.0f);
  return mx + std::log(sum);
}

// Scores s[0, n) of one query (already scaled) become the probabilities of the
// forward, recomputed from its saved log-sum-exp.
HYBREC_SIMD_MATH HYBREC_SIMD_CLONES void probabilities_row(float* s, const float* bias,
                                                           std::int64_t attend, std::int64_t n,
                                                           float lse) {
  if (lse == kNegInf) attend = 0;
#pragma omp simd
  for (std::int64_t j = 0; j < attend; ++j) s[j] = vexp(s[j] + bias[j] - lse);
  std::fill(s + attend, s + n, 0.0f);
}

// Rows [begin, end) of one head's strided [seq, head_dim] matrix set to zero.
void zero_rows(float* base, std::int64_t ld, std::int64_t head_dim, std::int64_t begin,
               std::int64_t end) {
  for (std::int64_t i = begin; i < end; ++i)
    std::memset(base + i * ld, 0, sizeof(float) * head_dim);
}

struct HeadGeometry {
  std::int64_t L, H, D, ld;
  std::int64_t offset(std::int64_t b, std::int64_t h) const { return (b * L * H + h) * D; }
};

}  // namespace

void attention_forward(const AttentionParams& p, float scale) {
  const HeadGeometry g{p.seq_len, p.heads, p.head_dim, p.heads * p.head_dim};
  const std::int64_t L = g.L, D = g.D;
  const int threads = omp_get_max_threads();
  // Per thread: scores/probabilities [L x L] and the key bias row [L].
  std::vector<float> scratch(static_cast<std::size_t>(threads) * (L * L + L));

#pragma omp parallel for schedule(dynamic)
  for (std::int64_t bh = 0; bh < p.batch * p.heads; ++bh) {
    const std::int64_t b = bh / p.heads, h = bh % p.heads;
    float* s = scratch.data() + static_cast<std::size_t>(omp_get_thread_num()) * (L * L + L);
    float* bias = s + L * L;
    const std::uint8_t* mask = p.key_padding_mask ? p.key_padding_mask + b * L : nullptr;
    const std::int64_t off = g.offset(b, h);
    float* out = p.out + off;
    float* lse = p.lse + bh * L;
    const std::int64_t n = key_extent(mask, L);
    if (n == 0) {
      zero_rows(out, g.ld, D, 0, L);
      std::fill(lse, lse + L, kNegInf);
      continue;
    }
    fill_key_bias(mask, n, bias);
    // S[L x n] = scale * Q K^T.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, n, D, scale, p.q + off, g.ld, p.k + off,
                g.ld, 0.0f, s, n);
    for (std::int64_t i = 0; i < L; ++i) {
      const std::int64_t attend = p.causal ? std::min(i + 1, n) : n;
      lse[i] = softmax_row(s + i * n, bias, attend, n);
    }
    // O[L x D] = P V; rows of P that are all zero give zero outputs.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, D, n, 1.0f, s, n, p.v + off, g.ld,
                0.0f, out, g.ld);
  }
}

void attention_backward(const AttentionParams& p, float scale) {
  const HeadGeometry g{p.seq_len, p.heads, p.head_dim, p.heads * p.head_dim};
  const std::int64_t L = g.L, D = g.D;
  const int threads = omp_get_max_threads();
  // Per thread: P [L x L], dP then dS [L x L], key bias [L], D_i [L].
  const std::int64_t per_thread = 2 * L * L + 2 * L;
  std::vector<float> scratch(static_cast<std::size_t>(threads) * per_thread);

#pragma omp parallel for schedule(dynamic)
  for (std::int64_t bh = 0; bh < p.batch * p.heads; ++bh) {
    const std::int64_t b = bh / p.heads, h = bh % p.heads;
    float* prob = scratch.data() + static_cast<std::size_t>(omp_get_thread_num()) * per_thread;
    float* ds = prob + L * L;
    float* bias = ds + L * L;
    float* delta = bias + L;
    const std::uint8_t* mask = p.key_padding_mask ? p.key_padding_mask + b * L : nullptr;
    const std::int64_t off = g.offset(b, h);
    const float *q = p.q + off, *k = p.k + off, *v = p.v + off;
    const float *o = p.out + off, *dout = p.dout + off;
    const float* lse = p.lse + bh * L;
    float *dq = p.dq + off, *dk = p.dk + off, *dv = p.dv + off;
    const std::int64_t n = key_extent(mask, L);
    // Keys beyond the extent are never attended: their dk, dv rows are zero.
    zero_rows(dk, g.ld, D, n, L);
    zero_rows(dv, g.ld, D, n, L);
    if (n == 0) {
      zero_rows(dq, g.ld, D, 0, L);
      continue;
    }
    fill_key_bias(mask, n, bias);
    // P = exp(scale * Q K^T + bias - lse), recomputed from the saved lse.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, n, D, scale, q, g.ld, k, g.ld, 0.0f,
                prob, n);
    for (std::int64_t i = 0; i < L; ++i) {
      probabilities_row(prob + i * n, bias, p.causal ? std::min(i + 1, n) : n, n, lse[i]);
      float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
      for (std::int64_t d = 0; d < D; ++d) dot += dout[i * g.ld + d] * o[i * g.ld + d];
      delta[i] = dot;
    }
    // dV[n x D] = P^T dO.
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, D, L, 1.0f, prob, n, dout, g.ld, 0.0f,
                dv, g.ld);
    // dP[L x n] = dO V^T, then dS = P * (dP - D_i) in place.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, n, D, 1.0f, dout, g.ld, v, g.ld, 0.0f,
                ds, n);
    for (std::int64_t i = 0; i < L; ++i) {
      const float* prow = prob + i * n;
      float* row = ds + i * n;
      const float di = delta[i];
#pragma omp simd
      for (std::int64_t j = 0; j < n; ++j) row[j] = prow[j] * (row[j] - di);
    }
    // dQ[L x D] = scale * dS K, dK[n x D] = scale * dS^T Q.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, D, n, scale, ds, n, k, g.ld, 0.0f, dq,
                g.ld);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, D, L, scale, ds, n, q, g.ld, 0.0f, dk,
                g.ld);
  }
}

// Decode: one query per (batch, head) against its cached keys. Scores and
// probabilities as the forward's softmax_row (max-subtracted, vexp), then a
// weighted sum of the value rows in key order.
void attention_decode_forward(const AttentionDecodeParams& p, float scale) {
  const std::int64_t H = p.heads, D = p.head_dim, ld = H * D;
  const int threads = omp_get_max_threads();
  std::vector<float> scratch(static_cast<std::size_t>(threads) * p.max_len);

#pragma omp parallel for schedule(static)
  for (std::int64_t bh = 0; bh < p.batch * H; ++bh) {
    const std::int64_t b = bh / H, h = bh % H;
    float* s = scratch.data() + static_cast<std::size_t>(omp_get_thread_num()) * p.max_len;
    const std::int64_t n = std::clamp<std::int64_t>(p.lengths[b], 0, p.max_len);
    const float* q = p.q + bh * D;
    const float* k = p.k_cache + (b * p.max_len * H + h) * D;
    const float* v = p.v_cache + (b * p.max_len * H + h) * D;
    float* out = p.out + bh * D;
    std::fill(out, out + D, 0.0f);
    if (n == 0) continue;
    float mx = kNegInf;
    for (std::int64_t j = 0; j < n; ++j) {
      const float* kj = k + j * ld;
      float dot = 0.0f;
      for (std::int64_t d = 0; d < D; ++d) dot += q[d] * kj[d];
      s[j] = scale * dot;
      mx = s[j] > mx ? s[j] : mx;
    }
    float sum = 0.0f;
    for (std::int64_t j = 0; j < n; ++j) {
      s[j] = vexp(s[j] - mx);
      sum += s[j];
    }
    const float inv = 1.0f / sum;
    for (std::int64_t j = 0; j < n; ++j) {
      const float w = s[j] * inv;
      const float* vj = v + j * ld;
      for (std::int64_t d = 0; d < D; ++d) out[d] += w * vj[d];
    }
  }
}

}  // namespace hybrec::kernels::cpu

// CPU backend of the dense ops: the reference the CUDA backend is tested
// against, and fast enough to train with. GEMMs go to cblas_sgemm; the rest
// are OpenMP loops over rows with contiguous inner loops that the compiler
// vectorises (`omp simd` lets it reorder float reductions).
//
// Sums across rows (gamma/beta gradients, the mean losses) are split into
// chunks whose boundaries depend only on the shape, then the chunk partials
// are added in order: the result does not depend on the number of threads.
// (The linear layer's sums are BLAS's; see linear_forward.)
#include "cpu/dense.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/dense_math.h"
#include "hybrec/kernels/static_switch.h"

namespace hybrec::kernels::cpu {
namespace {

struct RowChunks {
  int64_t rows;   // rows per chunk (the last one may be shorter)
  int64_t count;  // number of chunks
  int64_t begin(int64_t chunk) const { return chunk * rows; }
  int64_t end(int64_t chunk, int64_t n) const { return std::min(n, (chunk + 1) * rows); }
};

// At most 256 chunks leaves enough to spread over any realistic core count;
// callers summing columns pass a lower cap for wide rows, so the partial
// buffers (chunks x cols) stay under 16 MB.
RowChunks row_chunks(int64_t n, int64_t min_rows, int64_t max_chunks = 256) {
  const int64_t rows = std::max(min_rows, (n + max_chunks - 1) / max_chunks);
  return {rows, (n + rows - 1) / rows};
}

RowChunks column_sum_chunks(int64_t n, int64_t cols) {
  constexpr int64_t kMaxPartials = int64_t{1} << 22;
  return row_chunks(n, 64, std::clamp<int64_t>(kMaxPartials / cols, 1, 256));
}

// out[j] += sum over chunks of partials[chunk][j], chunks in order.
void add_column_partials(const std::vector<float>& partials, int64_t chunks, int64_t cols,
                         float* out) {
  std::vector<float> total(partials.begin(), partials.begin() + cols);
  for (int64_t c = 1; c < chunks; ++c) {
    const float* part = partials.data() + c * cols;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) total[j] += part[j];
  }
  for (int64_t j = 0; j < cols; ++j) out[j] += total[j];
}

// The sum over rows of row_value(r) (a double per row), chunk partials added
// in order.
template <typename RowFn>
double sum_rows(int64_t n, int64_t min_rows, RowFn&& row_value) {
  const RowChunks chunks = row_chunks(n, min_rows);
  std::vector<double> partial(static_cast<std::size_t>(chunks.count), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks.count; ++c) {
    double sum = 0.0;
    for (int64_t r = chunks.begin(c); r < chunks.end(c, n); ++r) sum += row_value(r);
    partial[c] = sum;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int blas(int64_t v) { return static_cast<int>(v); }  // api checked v <= kMaxLinearDim

}  // namespace

// Linear runs entirely inside BLAS, bias included (a rank-1 update with a
// column of ones, and a gemv against ones for dbias): an OpenMP loop between
// two sgemm calls leaves libgomp's workers spin-waiting on the cores that
// OpenBLAS's own threads then need, which measured 2-5x slower here.
void linear_forward(const LinearParams& p) {
  const int64_t n = p.n, in = p.in_features, out = p.out_features;
  // With a bias, y starts as the bias in every row and the GEMM accumulates
  // onto it (beta = 1): one pass over y instead of BLAS zeroing it (beta = 0)
  // and a rank-1 update adding the bias afterwards.
  float beta = 0.0f;
  if (p.bias != nullptr) {
    for (int64_t r = 0; r < n; ++r) std::memcpy(p.y + r * out, p.bias, sizeof(float) * out);
    beta = 1.0f;
  }
  // y[n, out] (+)= x[n, in] * W[out, in]^T
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blas(n), blas(out), blas(in), 1.0f, p.x,
              blas(in), p.weight, blas(in), beta, p.y, blas(out));
}

void linear_backward(const LinearParams& p) {
  const int64_t n = p.n, in = p.in_features, out = p.out_features;
  if (p.dx != nullptr) {
    // dx[n, in] = dy[n, out] * W[out, in]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blas(n), blas(in), blas(out), 1.0f, p.dy,
                blas(out), p.weight, blas(in), 0.0f, p.dx, blas(in));
  }
  // dW[out, in] += dy[n, out]^T * x[n, in]  (beta = 1 accumulates)
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blas(out), blas(in), blas(n), 1.0f, p.dy,
              blas(out), p.x, blas(in), 1.0f, p.dweight, blas(in));
  if (p.dbias == nullptr) return;
  // dbias[out] += dy[n, out]^T * ones[n]
  const std::vector<float> ones(static_cast<std::size_t>(n), 1.0f);
  cblas_sgemv(CblasRowMajor, CblasTrans, blas(n), blas(out), 1.0f, p.dy, blas(out), ones.data(), 1,
              1.0f, p.dbias, 1);
}

// The params' pointers are copied to locals so the loops' stores cannot be
// thought to modify them (which would force a reload per element).
void layer_norm_forward(const LayerNormParams& p) {
  const int64_t dim = p.dim;
  const float inv_dim = 1.0f / static_cast<float>(dim);
  const float *gamma = p.gamma, *beta = p.beta;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < p.n; ++r) {
    const float* x = p.x + r * dim;
    float* y = p.y + r * dim;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < dim; ++j) sum += x[j];
    const float mean = sum * inv_dim;
    float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
    for (int64_t j = 0; j < dim; ++j) sq += (x[j] - mean) * (x[j] - mean);
    const float rstd = 1.0f / std::sqrt(sq * inv_dim + p.eps);
#pragma omp simd
    for (int64_t j = 0; j < dim; ++j) y[j] = (x[j] - mean) * rstd * gamma[j] + beta[j];
    if (p.mean != nullptr) p.mean[r] = mean;
    if (p.rstd != nullptr) p.rstd[r] = rstd;
  }
}

void layer_norm_backward(const LayerNormParams& p) {
  const int64_t dim = p.dim;
  const float inv_dim = 1.0f / static_cast<float>(dim);
  const float* gamma = p.gamma;
  const RowChunks chunks = column_sum_chunks(p.n, dim);
  std::vector<float> gamma_partials(static_cast<std::size_t>(chunks.count * dim), 0.0f);
  std::vector<float> beta_partials(gamma_partials.size(), 0.0f);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks.count; ++c) {
    float* part_gamma = gamma_partials.data() + c * dim;
    float* part_beta = beta_partials.data() + c * dim;
    for (int64_t r = chunks.begin(c); r < chunks.end(c, p.n); ++r) {
      const float* x = p.x + r * dim;
      const float* dy = p.dy + r * dim;
      float* dx = p.dx + r * dim;
      const float mean = p.mean[r], rstd = p.rstd[r];
      float sum_g = 0.0f, sum_g_xhat = 0.0f;
#pragma omp simd reduction(+ : sum_g, sum_g_xhat)
      for (int64_t j = 0; j < dim; ++j) {
        const float xhat = (x[j] - mean) * rstd;
        const float g = dy[j] * gamma[j];
        sum_g += g;
        sum_g_xhat += g * xhat;
        part_gamma[j] += dy[j] * xhat;
        part_beta[j] += dy[j];
      }
      const float mean_g = sum_g * inv_dim, mean_g_xhat = sum_g_xhat * inv_dim;
      // Reads dy[j] before writing dx[j]: dx may alias dy.
#pragma omp simd
      for (int64_t j = 0; j < dim; ++j) {
        const float xhat = (x[j] - mean) * rstd;
        dx[j] = rstd * (dy[j] * gamma[j] - mean_g - xhat * mean_g_xhat);
      }
    }
  }
  add_column_partials(gamma_partials, chunks.count, dim, p.dgamma);
  add_column_partials(beta_partials, chunks.count, dim, p.dbeta);
}

void gelu_forward(const float* x, int64_t count, float* y) {
  constexpr float kInvSqrt2 = 0.70710678118654752f;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < count; ++i) y[i] = 0.5f * x[i] * (1.0f + math::erf(x[i] * kInvSqrt2));
}

void gelu_backward(const float* x, const float* dy, int64_t count, float* dx) {
  constexpr float kInvSqrt2 = 0.70710678118654752f;
  constexpr float kInvSqrt2Pi = 0.39894228040143268f;
  // Reads x[i] and dy[i] before writing dx[i]: dx may alias dy.
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < count; ++i) {
    const float v = x[i];
    const float cdf = 0.5f * (1.0f + math::erf(v * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * math::exp(-0.5f * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

void softmax_forward(const float* x, int64_t n, int64_t c, float* y) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const float* in = x + r * c;
    float* out = y + r * c;
    float max = in[0];
#pragma omp simd reduction(max : max)
    for (int64_t j = 0; j < c; ++j) max = math::max(max, in[j]);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < c; ++j) {
      out[j] = math::exp(in[j] - max);
      sum += out[j];
    }
    const float inv = 1.0f / sum;  // sum >= 1: the max term contributes exp(0)
#pragma omp simd
    for (int64_t j = 0; j < c; ++j) out[j] *= inv;
  }
}

void softmax_backward(const float* y, const float* dy, int64_t n, int64_t c, float* dx) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const float* yr = y + r * c;
    const float* dyr = dy + r * c;
    float* dxr = dx + r * c;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < c; ++j) dot += dyr[j] * yr[j];
#pragma omp simd
    for (int64_t j = 0; j < c; ++j) dxr[j] = yr[j] * (dyr[j] - dot);
  }
}

namespace {

// Sum of the per-example losses: blocks of 64 summed in float under `omp
// simd` (GCC does not vectorise a double reduction over float values; 64
// roundings per block), blocks and chunks summed in double.
template <bool kWeighted>
double bce_loss_sum(const float* logits, const float* labels, const float* weights, int64_t n) {
  constexpr int64_t kBlockRows = 64;
  // By value: pointers reached through the closure's references could alias
  // the reduction's temporaries, and GCC then declines to vectorise.
  return sum_rows(ceil_div(n, kBlockRows), 64, [=](int64_t block) {
    const float *x = logits, *y = labels, *w = weights;
    const int64_t begin = block * kBlockRows, end = std::min(n, begin + kBlockRows);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = begin; i < end; ++i) {
      // log1p(exp(-|x|)) never overflows, unlike log(1 + exp(-x)) for x << 0.
      const float l =
          math::max(x[i], 0.0f) - x[i] * y[i] + math::log1p_unit(math::exp(-std::abs(x[i])));
      sum += kWeighted ? w[i] * l : l;
    }
    return static_cast<double>(sum);
  });
}

}  // namespace

void bce_with_logits_forward(const float* logits, const float* labels, const float* weights,
                             int64_t n, float* loss) {
  if (n == 0) {
    *loss = 0.0f;
    return;
  }
  const double total = HYBREC_BOOL_SWITCH(weights != nullptr, kWeighted, [&] {
    return bce_loss_sum<kWeighted>(logits, labels, weights, n);
  });
  *loss = static_cast<float>(total / static_cast<double>(n));
}

namespace {

template <bool kWeighted>
void bce_backward_rows(const float* logits, const float* labels, const float* weights, int64_t n,
                       float scale, float* dlogits) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float x = logits[i];
    // exp of -|x| only, so the sigmoid is exact at both tails (no inf/inf).
    const float e = math::exp(-std::abs(x));
    const float inv = 1.0f / (1.0f + e);
    const float sigmoid = math::select(x >= 0.0f, inv, e * inv);
    const float w = kWeighted ? weights[i] : 1.0f;
    dlogits[i] = (sigmoid - labels[i]) * w * scale;
  }
}

}  // namespace

void bce_with_logits_backward(const float* logits, const float* labels, const float* weights,
                              int64_t n, float dloss, float* dlogits) {
  const float scale = dloss / static_cast<float>(n);
  HYBREC_BOOL_SWITCH(weights != nullptr, kWeighted, [&] {
    bce_backward_rows<kWeighted>(logits, labels, weights, n, scale, dlogits);
  });
}

namespace {

// logsumexp of the row z = logits - log_q, kept as max + log(sum exp(z - max))
// so the loss (max - z_0) + log_sum does not cancel two large numbers.
struct RowLse {
  float max;
  float log_sum;
};

template <bool kLogQ>
float shifted(const float* logits, const float* log_q, int64_t j) {
  return kLogQ ? logits[j] - log_q[j] : logits[j];
}

template <bool kLogQ>
RowLse row_logsumexp(const float* logits, const float* log_q, int64_t c) {
  float max = -INFINITY;
#pragma omp simd reduction(max : max)
  for (int64_t j = 0; j < c; ++j) max = math::max(max, shifted<kLogQ>(logits, log_q, j));
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < c; ++j) sum += math::exp(shifted<kLogQ>(logits, log_q, j) - max);
  return {max, std::log(sum)};
}

template <bool kLogQ>
double sampled_softmax_loss_sum(const float* logits, const float* log_q, int64_t n, int64_t c) {
  return sum_rows(n, 64, [&](int64_t r) {
    const float* row = logits + r * c;
    const float* q = kLogQ ? log_q + r * c : nullptr;
    const RowLse lse = row_logsumexp<kLogQ>(row, q, c);
    return static_cast<double>((lse.max - shifted<kLogQ>(row, q, 0)) + lse.log_sum);
  });
}

template <bool kLogQ>
void sampled_softmax_grad_rows(const float* logits, const float* log_q, int64_t n, int64_t c,
                               float scale, float* dlogits) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; ++r) {
    const float* row = logits + r * c;
    const float* q = kLogQ ? log_q + r * c : nullptr;
    float* out = dlogits + r * c;
    const RowLse lse = row_logsumexp<kLogQ>(row, q, c);
    // Saved before the loop, which may overwrite it (dlogits may alias logits).
    const float z0 = shifted<kLogQ>(row, q, 0);
#pragma omp simd
    for (int64_t j = 0; j < c; ++j) {
      out[j] = math::exp(shifted<kLogQ>(row, q, j) - lse.max - lse.log_sum) * scale;
    }
    out[0] = (math::exp(z0 - lse.max - lse.log_sum) - 1.0f) * scale;  // the target's one-hot
  }
}

}  // namespace

void sampled_softmax_loss_forward(const float* logits, const float* log_q, int64_t n, int64_t c,
                                  float* loss) {
  if (n == 0) {
    *loss = 0.0f;
    return;
  }
  const double total = HYBREC_BOOL_SWITCH(log_q != nullptr, kLogQ, [&] {
    return sampled_softmax_loss_sum<kLogQ>(logits, log_q, n, c);
  });
  *loss = static_cast<float>(total / static_cast<double>(n));
}

void sampled_softmax_loss_backward(const float* logits, const float* log_q, int64_t n, int64_t c,
                                   float dloss, float* dlogits) {
  const float scale = dloss / static_cast<float>(n);
  HYBREC_BOOL_SWITCH(log_q != nullptr, kLogQ, [&] {
    sampled_softmax_grad_rows<kLogQ>(logits, log_q, n, c, scale, dlogits);
  });
}

}  // namespace hybrec::kernels::cpu

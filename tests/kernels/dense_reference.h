// Naive double-precision references for the dense ops, written for clarity:
// the CPU backend is tested against these, and finite differences of them
// check every backward.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace hybrec::testing::dense_ref {

using Vec = std::vector<double>;

// y[r][o] = sum_i x[r][i] * w[o][i] + b[o]
inline Vec linear(const Vec& x, const Vec& w, const Vec* b, int64_t n, int64_t in, int64_t out) {
  Vec y(n * out);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double acc = b ? (*b)[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) acc += x[r * in + i] * w[o * in + i];
      y[r * out + o] = acc;
    }
  }
  return y;
}

struct LayerNormOut {
  Vec y, mean, rstd;
};

inline LayerNormOut layer_norm(const Vec& x, const Vec& gamma, const Vec& beta, int64_t n,
                               int64_t dim, double eps) {
  LayerNormOut out{Vec(n * dim), Vec(n), Vec(n)};
  for (int64_t r = 0; r < n; ++r) {
    double mean = 0.0;
    for (int64_t j = 0; j < dim; ++j) mean += x[r * dim + j];
    mean /= dim;
    double var = 0.0;
    for (int64_t j = 0; j < dim; ++j) var += (x[r * dim + j] - mean) * (x[r * dim + j] - mean);
    var /= dim;
    const double rstd = 1.0 / std::sqrt(var + eps);
    for (int64_t j = 0; j < dim; ++j) {
      out.y[r * dim + j] = (x[r * dim + j] - mean) * rstd * gamma[j] + beta[j];
    }
    out.mean[r] = mean;
    out.rstd[r] = rstd;
  }
  return out;
}

inline Vec gelu(const Vec& x) {
  Vec y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    y[i] = 0.5 * x[i] * (1.0 + std::erf(x[i] / std::sqrt(2.0)));
  return y;
}

inline Vec softmax(const Vec& x, int64_t n, int64_t c) {
  Vec y(n * c);
  for (int64_t r = 0; r < n; ++r) {
    double max = x[r * c];
    for (int64_t j = 0; j < c; ++j) max = std::max(max, x[r * c + j]);
    double sum = 0.0;
    for (int64_t j = 0; j < c; ++j) sum += std::exp(x[r * c + j] - max);
    for (int64_t j = 0; j < c; ++j) y[r * c + j] = std::exp(x[r * c + j] - max) / sum;
  }
  return y;
}

// mean over n of w_i * (softplus(x_i) - x_i * y_i); softplus written the
// stable way so the reference itself survives |x| = 80.
inline double bce(const Vec& logits, const Vec& labels, const Vec* weights, int64_t n) {
  if (n == 0) return 0.0;
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = logits[i];
    const double softplus = std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x)));
    total += (weights ? (*weights)[i] : 1.0) * (softplus - x * labels[i]);
  }
  return total / n;
}

// mean over rows of -log softmax(logits - log_q)[0]
inline double sampled_softmax(const Vec& logits, const Vec* log_q, int64_t n, int64_t c) {
  if (n == 0) return 0.0;
  double total = 0.0;
  for (int64_t r = 0; r < n; ++r) {
    Vec z(c);
    for (int64_t j = 0; j < c; ++j) z[j] = logits[r * c + j] - (log_q ? (*log_q)[r * c + j] : 0.0);
    const double max = *std::max_element(z.begin(), z.end());
    double sum = 0.0;
    for (double v : z) sum += std::exp(v - max);
    total += max + std::log(sum) - z[0];
  }
  return total / n;
}

inline double dot(const Vec& a, const Vec& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace hybrec::testing::dense_ref

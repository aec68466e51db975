// Naive double-precision references for the embedding ops and a generator
// of bag problems, shared by the CPU and GPU embedding tests. Written for
// clarity, straight from the formulas in hybrec/kernels/embedding.h.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <vector>

#include "hybrec/kernels/embedding.h"
#include "testing.h"

namespace hybrec::testing {

// Host copy of a bag lookup; bags() gives the view the kernels take.
struct BagProblem {
  int64_t num_rows = 0;
  int64_t dim = 0;
  std::vector<float> table;      // [num_rows, dim]
  std::vector<int64_t> indices;  // [num_indices]
  std::vector<int64_t> offsets;  // [count + 1]; empty: one index per bag
  std::vector<float> weights;    // [num_indices] or empty
  int64_t count = 0;
  kernels::Pooling pooling = kernels::Pooling::kSum;

  int64_t num_indices() const { return static_cast<int64_t>(indices.size()); }
  int64_t begin(int64_t b) const { return offsets.empty() ? b : offsets[b]; }
  int64_t end(int64_t b) const { return offsets.empty() ? b + 1 : offsets[b + 1]; }

  kernels::EmbeddingBags bags() const {
    kernels::EmbeddingBags v;
    v.indices = indices.data();
    v.offsets = offsets.empty() ? nullptr : offsets.data();
    v.count = count;
    v.num_indices = num_indices();
    v.per_sample_weights = weights.empty() ? nullptr : weights.data();
    v.pooling = pooling;
    return v;
  }
};

// Bags with the given lengths over uniform random rows of a random table.
inline BagProblem make_bag_problem(int64_t num_rows, int64_t dim,
                                   const std::vector<int64_t>& lengths, bool weighted,
                                   kernels::Pooling pooling, std::uint64_t seed) {
  BagProblem p;
  p.num_rows = num_rows;
  p.dim = dim;
  p.pooling = pooling;
  p.count = static_cast<int64_t>(lengths.size());
  p.table = random_floats(static_cast<std::size_t>(num_rows * dim), seed);
  p.offsets.push_back(0);
  for (int64_t len : lengths) p.offsets.push_back(p.offsets.back() + len);
  p.indices =
      random_ints<int64_t>(static_cast<std::size_t>(p.offsets.back()), seed + 1, 0, num_rows);
  if (weighted) p.weights = random_floats(p.indices.size(), seed + 2, -2.0f, 2.0f);
  return p;
}

// lengths[b] = pattern[b % pattern.size()], for `count` bags.
inline std::vector<int64_t> repeat_lengths(const std::vector<int64_t>& pattern, int64_t count) {
  std::vector<int64_t> lengths(static_cast<std::size_t>(count));
  for (int64_t b = 0; b < count; ++b) lengths[b] = pattern[b % pattern.size()];
  return lengths;
}

// Forward in double, as a function of the table so that finite differences
// can perturb it.
inline std::vector<double> reference_forward(const BagProblem& p,
                                             const std::vector<double>& table) {
  std::vector<double> out(static_cast<std::size_t>(p.count * p.dim), 0.0);
  for (int64_t b = 0; b < p.count; ++b) {
    const int64_t len = p.end(b) - p.begin(b);
    for (int64_t pos = p.begin(b); pos < p.end(b); ++pos) {
      const double w = p.weights.empty() ? 1.0 : p.weights[pos];
      for (int64_t j = 0; j < p.dim; ++j) {
        out[b * p.dim + j] += w * table[p.indices[pos] * p.dim + j];
      }
    }
    if (p.pooling == kernels::Pooling::kMean && len > 0) {
      for (int64_t j = 0; j < p.dim; ++j) out[b * p.dim + j] /= static_cast<double>(len);
    }
  }
  return out;
}

// The backward's gradient per distinct row, in double.
inline std::map<int64_t, std::vector<double>> reference_backward(
    const BagProblem& p, const std::vector<float>& grad_out) {
  std::map<int64_t, std::vector<double>> grads;
  for (int64_t b = 0; b < p.count; ++b) {
    const int64_t len = p.end(b) - p.begin(b);
    for (int64_t pos = p.begin(b); pos < p.end(b); ++pos) {
      double c = p.weights.empty() ? 1.0 : p.weights[pos];
      if (p.pooling == kernels::Pooling::kMean) c /= static_cast<double>(len);
      auto& g = grads[p.indices[pos]];
      g.resize(static_cast<std::size_t>(p.dim), 0.0);
      for (int64_t j = 0; j < p.dim; ++j) g[j] += c * grad_out[b * p.dim + j];
    }
  }
  return grads;
}

// Row-wise Adagrad of one row, in double.
inline void reference_adagrad_row(std::vector<double>& w, double& state,
                                  const std::vector<double>& g, double lr, double eps) {
  double mean_sq = 0.0;
  for (double x : g) mean_sq += x * x;
  mean_sq /= static_cast<double>(g.size());
  state += mean_sq;
  for (std::size_t j = 0; j < g.size(); ++j) w[j] -= lr * g[j] / (std::sqrt(state) + eps);
}

// Adam (decoupled weight decay) of one element, in double.
inline void reference_adam(double& w, double& m, double& v, double g,
                           const kernels::AdamParams& a) {
  m = a.beta1 * m + (1.0 - a.beta1) * g;
  v = a.beta2 * v + (1.0 - a.beta2) * g * g;
  const double mhat = m / (1.0 - std::pow(static_cast<double>(a.beta1), a.step));
  const double vhat = v / (1.0 - std::pow(static_cast<double>(a.beta2), a.step));
  w -= a.learning_rate * (mhat / (std::sqrt(vhat) + a.eps) + a.weight_decay * w);
}

}  // namespace hybrec::testing

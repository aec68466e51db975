// Naive double-precision references for the bilinear ops, written for
// clarity: the CPU tests check the backend against them and the GPU tests
// use them to check that a returned top-k list is a valid one.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace hybrec::testing {

// z[b] = sum_ij u[b,i] w[i,j] v[b,j]
inline std::vector<double> ref_bilinear(const std::vector<double>& u, const std::vector<double>& v,
                                        const std::vector<double>& w, int64_t batch, int64_t dim) {
  std::vector<double> z(batch, 0.0);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < dim; ++i) {
      for (int64_t j = 0; j < dim; ++j) z[b] += u[b * dim + i] * w[i * dim + j] * v[b * dim + j];
    }
  }
  return z;
}

inline std::vector<double> ref_fused_score(const std::vector<double>& z,
                                           const std::vector<double>& g, double lambda) {
  std::vector<double> out(z.size());
  for (std::size_t b = 0; b < z.size(); ++b) {
    out[b] = (z[b] + lambda * g[b]) / std::sqrt(1.0 + lambda * lambda);
  }
  return out;
}

// S[u, j] = users[u] W items[j]^T
inline std::vector<double> ref_scores(const std::vector<float>& users,
                                      const std::vector<float>& items, const std::vector<float>& w,
                                      int64_t num_users, int64_t num_items, int64_t dim) {
  std::vector<double> scores(num_users * num_items, 0.0);
  for (int64_t u = 0; u < num_users; ++u) {
    for (int64_t j = 0; j < num_items; ++j) {
      double s = 0.0;
      for (int64_t a = 0; a < dim; ++a) {
        for (int64_t b = 0; b < dim; ++b) {
          s += double(users[u * dim + a]) * double(w[a * dim + b]) * double(items[j * dim + b]);
        }
      }
      scores[u * num_items + j] = s;
    }
  }
  return scores;
}

struct RefTopK {
  std::vector<int64_t> items;  // [users, k], -1 padded
  std::vector<double> scores;  // [users, k], -inf padded
};

// Sorts every candidate of each user (descending score, lower id first on
// ties) and keeps the first k. `offsets` empty means no exclusions.
template <typename Index>
RefTopK ref_topk(const std::vector<double>& scores, int64_t num_users, int64_t num_items, int64_t k,
                 const std::vector<int64_t>& offsets, const std::vector<Index>& excluded) {
  RefTopK out;
  const double inf = std::numeric_limits<double>::infinity();
  out.items.assign(num_users * k, -1);
  out.scores.assign(num_users * k, -inf);
  for (int64_t u = 0; u < num_users; ++u) {
    std::vector<std::pair<double, int64_t>> candidates;
    for (int64_t j = 0; j < num_items; ++j) {
      bool skip = false;
      if (!offsets.empty()) {
        for (int64_t e = offsets[u]; e < offsets[u + 1]; ++e) skip = skip || excluded[e] == j;
      }
      const double s = scores[u * num_items + j];
      if (!skip && s > -inf) candidates.emplace_back(s, j);  // NaN fails s > -inf
    }
    std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    for (int64_t i = 0; i < k && i < int64_t(candidates.size()); ++i) {
      out.scores[u * k + i] = candidates[i].first;
      out.items[u * k + i] = candidates[i].second;
    }
  }
  return out;
}

}  // namespace hybrec::testing

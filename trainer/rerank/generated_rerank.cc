#include "trainer/rerank/generated_rerank.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "hybrec/kernels/error.h"
#include "trainer/eval/beyond_accuracy.h"

namespace hybrec::trainer {

double fuse_generated_term(double z, double y, double lambda) {
  return (z + lambda * y) / std::sqrt(1.0 + lambda * lambda);
}

std::vector<int64_t> top_candidates(const float* scores, int64_t num_items, int64_t n,
                                    const std::vector<int64_t>& excluded,
                                    const std::vector<uint8_t>* only) {
  TopK top(n);
  auto next_excluded = excluded.begin();
  for (int64_t j = 0; j < num_items; ++j) {
    while (next_excluded != excluded.end() && *next_excluded < j) ++next_excluded;
    if (next_excluded != excluded.end() && *next_excluded == j) continue;
    if (only != nullptr && (*only)[static_cast<std::size_t>(j)] == 0) continue;
    top.offer(scores[j], j);
  }
  return top.take();
}

void rerank_row(float* scores, int64_t num_items, const std::vector<int64_t>& candidates,
                const std::vector<double>& y, double lambda) {
  HYBREC_CHECK(y.size() == candidates.size(), "rerank_row: ", y.size(), " terms for ",
               candidates.size(), " candidates");
  if (candidates.empty()) return;
  // The lowest base score and the lowest fused score of the candidates
  // (NaNs skipped): the rest move by one constant from below the first to
  // below the second.
  double lowest_base = std::numeric_limits<double>::infinity();
  double lowest_fused = lowest_base;
  std::vector<float> fused(candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const double z = scores[candidates[i]];
    const double f = fuse_generated_term(z, y[i], lambda);
    fused[i] = static_cast<float>(f);
    if (z < lowest_base) lowest_base = z;
    if (f < lowest_fused) lowest_fused = f;
  }
  double shift = 0.0;
  if (std::isfinite(lowest_base) && std::isfinite(lowest_fused)) {
    // The margin keeps an item tied with the last candidate strictly below
    // after float rounding of the shifted score.
    const double margin = 1.0 + 1e-3 * (std::fabs(lowest_base) + std::fabs(lowest_fused));
    shift = lowest_base - lowest_fused + margin;
  }
  std::vector<uint8_t> is_candidate(static_cast<std::size_t>(num_items), 0);
  for (int64_t j : candidates) is_candidate[static_cast<std::size_t>(j)] = 1;
  for (int64_t j = 0; j < num_items; ++j) {
    if (is_candidate[static_cast<std::size_t>(j)] == 0) {
      scores[j] = static_cast<float>(static_cast<double>(scores[j]) - shift);
    }
  }
  for (std::size_t i = 0; i < candidates.size(); ++i) scores[candidates[i]] = fused[i];
}

GeneratedTermScorer::GeneratedTermScorer(Scorer& base, GeneratedTerm& term, int64_t num_items,
                                         int64_t n, double lambda, const std::vector<uint8_t>* only)
    : base_(base), term_(term), num_items_(num_items), n_(n), lambda_(lambda), only_(only) {
  HYBREC_CHECK(n >= 1, "GeneratedTermScorer: candidates per case must be >= 1, got ", n);
  HYBREC_CHECK(only == nullptr || static_cast<int64_t>(only->size()) == num_items,
               "GeneratedTermScorer: candidate mask of ", only ? only->size() : 0, " items for ",
               num_items);
}

void GeneratedTermScorer::score(const EvalCase* cases, int64_t n, float* scores) {
  base_.score(cases, n, scores);
  if (lambda_ == 0.0) return;
  for (int64_t i = 0; i < n; ++i) {
    float* row = scores + i * num_items_;
    const std::vector<int64_t> candidates =
        top_candidates(row, num_items_, n_, cases[i].excluded, only_);
    rerank_row(row, num_items_, candidates, term_.score(cases[i], candidates), lambda_);
  }
}

}  // namespace hybrec::trainer

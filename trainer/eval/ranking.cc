#include "trainer/eval/ranking.h"

#include <algorithm>
#include <cmath>

#include "hybrec/kernels/error.h"
#include "hybrec/kernels/splitmix.h"

namespace hybrec::trainer {
namespace {

constexpr int64_t kBlockUsers = 128;

struct CaseMetrics {
  double hr, ndcg, mrr, auc;
};

CaseMetrics rank_one(const EvalCase& c, const float* scores, int64_t num_items, bool cold_only,
                     const std::vector<uint8_t>& item_cold, int64_t k, int64_t auc_negatives,
                     uint64_t seed) {
  const float target_score = scores[c.target];
  auto excluded = [&](int64_t j) {
    if (cold_only && !item_cold[j]) return true;
    return std::binary_search(c.excluded.begin(), c.excluded.end(), j);
  };
  int64_t rank = 0;
  for (int64_t j = 0; j < num_items; ++j) {
    const float s = scores[j];
    // NaN scores rank above the target: a broken model never looks good.
    const bool above = !(s <= target_score) || (s == target_score && j < c.target);
    if (above && j != c.target && !excluded(j)) ++rank;
  }
  CaseMetrics m{};
  m.hr = rank < k ? 1.0 : 0.0;
  m.ndcg = rank < k ? 1.0 / std::log2(static_cast<double>(rank) + 2.0) : 0.0;
  m.mrr = 1.0 / (static_cast<double>(rank) + 1.0);

  // AUC against sampled candidates (with replacement; a bounded number of
  // draws so a user who excluded nearly everything still ends).
  uint64_t state = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(c.user) * 31 + 7));
  double wins = 0;
  int64_t drawn = 0;
  for (int64_t attempt = 0; attempt < auc_negatives * 20 && drawn < auc_negatives; ++attempt) {
    state = splitmix64(state);
    const auto j = static_cast<int64_t>(state % static_cast<uint64_t>(num_items));
    if (j == c.target || excluded(j)) continue;
    ++drawn;
    wins += scores[j] < target_score ? 1.0 : scores[j] == target_score ? 0.5 : 0.0;
  }
  m.auc = drawn > 0 ? wins / static_cast<double>(drawn) : 0.5;
  return m;
}

}  // namespace

MetricSums rank_cases(const EvalCases& cases, Scorer& scorer, const std::vector<uint8_t>& item_cold,
                      int64_t k, int64_t auc_negatives, uint64_t seed) {
  const auto num_items = static_cast<int64_t>(item_cold.size());
  const bool cold_only = cases.subset == EvalSubset::kCold;
  const auto n = static_cast<int64_t>(cases.cases.size());
  std::vector<float> scores(static_cast<std::size_t>(std::min(n, kBlockUsers) * num_items));
  MetricSums sums;
  for (int64_t first = 0; first < n; first += kBlockUsers) {
    const int64_t count = std::min(kBlockUsers, n - first);
    scorer.score(cases.cases.data() + first, count, scores.data());
    std::vector<CaseMetrics> per_case(static_cast<std::size_t>(count));
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t i = 0; i < count; ++i) {
      per_case[i] = rank_one(cases.cases[first + i], scores.data() + i * num_items, num_items,
                             cold_only, item_cold, k, auc_negatives, seed);
    }
    for (const auto& m : per_case) {  // fixed order: deterministic sums
      sums.hr += m.hr;
      sums.ndcg += m.ndcg;
      sums.mrr += m.mrr;
      sums.auc += m.auc;
      sums.users += 1;
    }
  }
  return sums;
}

EvalResult finish_metrics(const EvalCases& cases, const MetricSums& reduced, int64_t k) {
  EvalResult r;
  r.split = cases.split;
  r.subset = subset_name(cases.subset);
  r.k = k;
  r.users = static_cast<int64_t>(reduced.users);
  if (reduced.users > 0) {
    r.hr = reduced.hr / reduced.users;
    r.ndcg = reduced.ndcg / reduced.users;
    r.mrr = reduced.mrr / reduced.users;
    r.auc = reduced.auc / reduced.users;
  }
  return r;
}

PopularityScorer::PopularityScorer(const std::vector<int64_t>& item_count)
    : counts_(item_count.begin(), item_count.end()) {}

void PopularityScorer::score(const EvalCase*, int64_t n, float* scores) {
  for (int64_t i = 0; i < n; ++i) {
    std::copy(counts_.begin(), counts_.end(), scores + i * static_cast<int64_t>(counts_.size()));
  }
}

}  // namespace hybrec::trainer

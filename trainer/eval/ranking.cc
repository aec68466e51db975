#include "trainer/eval/ranking.h"

#include <algorithm>
#include <cmath>

#include "hybrec/kernels/error.h"
#include "hybrec/kernels/splitmix.h"

namespace hybrec::trainer {
namespace {

constexpr int64_t kBlockUsers = 128;

static_assert(sizeof(MetricSums) == MetricSums::kCount * sizeof(double),
              "MetricSums must be kCount contiguous doubles");

struct CaseMetrics {
  double hr = 0, ndcg = 0, mrr = 0, auc = 0;
  std::vector<int64_t> top;  // the top-K list
  ListSums list;
};

CaseMetrics rank_one(const EvalCase& c, const float* scores, bool cold_only,
                     const ItemProfile& items, int64_t k, int64_t auc_negatives, uint64_t seed) {
  const int64_t num_items = items.num_items();
  const float target_score = scores[c.target];
  auto excluded = [&](int64_t j) {
    if (cold_only && !items.cold[j]) return true;
    return std::binary_search(c.excluded.begin(), c.excluded.end(), j);
  };
  // One pass over the candidates in id order (the sorted exclusions walked
  // alongside): the counts behind the rank, and the top-K list.
  int64_t higher = 0, tied = 0;
  TopK top(k);
  auto next_excluded = c.excluded.begin();
  for (int64_t j = 0; j < num_items; ++j) {
    while (next_excluded != c.excluded.end() && *next_excluded < j) ++next_excluded;
    if (next_excluded != c.excluded.end() && *next_excluded == j) continue;
    if (cold_only && !items.cold[j]) continue;
    const float s = scores[j];
    top.offer(s, j);
    if (j == c.target) continue;
    // NaN scores rank above the target: a broken model never looks good.
    if (!(s <= target_score)) {
      ++higher;
    } else if (s == target_score) {
      ++tied;
    }
  }
  // The expectation over the order of the tied items: position p uniform
  // over higher..higher+tied.
  CaseMetrics m;
  const auto positions = static_cast<double>(tied + 1);
  for (int64_t p = higher; p <= higher + tied; ++p) {
    const auto pos = static_cast<double>(p);
    if (p < k) {
      m.hr += 1.0;
      m.ndcg += 1.0 / std::log2(pos + 2.0);
    }
    m.mrr += 1.0 / (pos + 1.0);
  }
  m.hr /= positions;
  m.ndcg /= positions;
  m.mrr /= positions;
  m.top = top.take();
  m.list = list_sums(m.top, items);

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

MetricSums rank_cases(const EvalCases& cases, Scorer& scorer, const ItemProfile& items, int64_t k,
                      int64_t auc_negatives, uint64_t seed, std::vector<double>* exposure) {
  const int64_t num_items = items.num_items();
  HYBREC_CHECK(exposure == nullptr || static_cast<int64_t>(exposure->size()) == num_items,
               "exposure vector of ", exposure ? exposure->size() : 0, " items for ", num_items);
  const bool cold_only = cases.subset == EvalSubset::kCold;
  const auto n = static_cast<int64_t>(cases.cases.size());
  std::vector<float> scores(static_cast<std::size_t>(std::min(n, kBlockUsers) * num_items));
  std::vector<CaseMetrics> per_case;
  MetricSums sums;
  for (int64_t first = 0; first < n; first += kBlockUsers) {
    const int64_t count = std::min(kBlockUsers, n - first);
    scorer.score(cases.cases.data() + first, count, scores.data());
    per_case.assign(static_cast<std::size_t>(count), CaseMetrics{});
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t i = 0; i < count; ++i) {
      per_case[i] = rank_one(cases.cases[first + i], scores.data() + i * num_items, cold_only,
                             items, k, auc_negatives, seed);
    }
    for (const auto& m : per_case) {  // fixed order: deterministic sums
      sums.hr += m.hr;
      sums.ndcg += m.ndcg;
      sums.mrr += m.mrr;
      sums.auc += m.auc;
      sums.users += 1;
      add(sums.lists, m.list);
      if (exposure != nullptr) {
        for (int64_t j : m.top) (*exposure)[j] += 1.0;
      }
    }
  }
  return sums;
}

EvalResult finish_metrics(const EvalCases& cases, const MetricSums& reduced,
                          const std::vector<double>& exposure, const ItemProfile& items,
                          int64_t k) {
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
  r.beyond =
      finish_beyond_accuracy(reduced.lists, exposure, items, cases.subset == EvalSubset::kCold);
  return r;
}

}  // namespace hybrec::trainer

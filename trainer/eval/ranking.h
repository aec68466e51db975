// Full-ranking leave-one-out metrics for a set of evaluation cases, from any
// scorer (the trained model, or a baseline: baselines.h).
//
// A case's candidates are all items (subset warm, cold_all) or the cold items
// (subset cold), minus the case's excluded items; the target is one. Let h be
// the number of other candidates that score strictly higher than the target
// and t the number that score the same. Ties are broken at random: the
// target's 0-based position p is uniform over h..h+t, its expected rank is
// h + t/2, and each metric is its expectation over that order:
//   HR@K   = #{p in [h, h+t] : p < K} / (t + 1)
//   NDCG@K = sum over those p of 1/log2(p + 2), / (t + 1)
//   MRR    = sum over p in [h, h+t] of 1/(p + 1), / (t + 1)
// so a scorer that gives many items one score (popularity's untrained items,
// a constant model) is not flattered by the id order; a constant scorer over
// n candidates gets HR@K = K/n exactly. A NaN score of a candidate counts as
// higher, and a NaN target score loses to every candidate: a broken model
// never looks good. AUC = the share of `auc_negatives` candidates sampled
// uniformly (seeded by user) that score below the target, ties counting one
// half.
//
// The same pass takes each case's top-K list for the beyond-accuracy
// metrics (beyond_accuracy.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/eval/beyond_accuracy.h"
#include "trainer/eval/eval_cases.h"

namespace hybrec::trainer {

class Scorer {
 public:
  virtual ~Scorer() = default;
  // scores [n, num_items] of cases[0..n) (only user and history are read).
  virtual void score(const EvalCase* cases, int64_t n, float* scores) = 0;
};

// Sums over cases (reduced over ranks by the caller, then divided by users),
// all doubles so that data()[0..kCount) is one all-reduce.
struct MetricSums {
  double hr = 0, ndcg = 0, mrr = 0, auc = 0, users = 0;
  ListSums lists;
  static constexpr int kCount = 5 + sizeof(ListSums) / sizeof(double);
  double* data() { return &hr; }
};

// Ranks every case with `scorer` over items.num_items() items. When
// `exposure` is given ([num_items]), each item's count of top-K lists of
// these cases is added to it.
MetricSums rank_cases(const EvalCases& cases, Scorer& scorer, const ItemProfile& items, int64_t k,
                      int64_t auc_negatives, uint64_t seed,
                      std::vector<double>* exposure = nullptr);

struct EvalResult {
  std::string split, subset;
  int64_t k = 10;
  double hr = 0, ndcg = 0, mrr = 0, auc = 0;
  BeyondAccuracy beyond;
  int64_t users = 0;
};

// The means of reduced sums; `exposure` reduced over ranks as well.
EvalResult finish_metrics(const EvalCases& cases, const MetricSums& reduced,
                          const std::vector<double>& exposure, const ItemProfile& items, int64_t k);

}  // namespace hybrec::trainer

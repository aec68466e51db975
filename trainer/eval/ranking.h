// Full-ranking leave-one-out metrics for a set of evaluation cases, from any
// scorer (the trained model, or a baseline such as popularity).
//
// For one case the rank of the target is the number of candidate items that
// score higher, plus those that score the same and have a lower id (the tie
// rule of all_items_topk, so a constant scorer is not flattered). Candidates
// are all items (subset warm, cold_all) or the cold items (subset cold),
// minus the case's excluded items. Then HR@K = [rank < K], NDCG@K =
// 1/log2(rank + 2) when rank < K, MRR = 1/(rank + 1), and AUC = the share of
// `auc_negatives` candidates sampled uniformly (seeded by user) that score
// below the target, ties counting one half.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/eval/eval_cases.h"

namespace hybrec::trainer {

class Scorer {
 public:
  virtual ~Scorer() = default;
  // scores [n, num_items] of cases[0..n) (only user and history are read).
  virtual void score(const EvalCase* cases, int64_t n, float* scores) = 0;
};

// Sums over cases (reduced over ranks by the caller, then divided by users).
struct MetricSums {
  double hr = 0, ndcg = 0, mrr = 0, auc = 0, users = 0;
  static constexpr int kCount = 5;
  double* data() { return &hr; }
};

MetricSums rank_cases(const EvalCases& cases, Scorer& scorer, const std::vector<uint8_t>& item_cold,
                      int64_t k, int64_t auc_negatives, uint64_t seed);

struct EvalResult {
  std::string split, subset;
  int64_t k = 10;
  double hr = 0, ndcg = 0, mrr = 0, auc = 0;
  int64_t users = 0;
};

EvalResult finish_metrics(const EvalCases& cases, const MetricSums& reduced, int64_t k);

// Scores items by their number of training events (the popularity baseline).
class PopularityScorer : public Scorer {
 public:
  explicit PopularityScorer(const std::vector<int64_t>& item_count);
  void score(const EvalCase* cases, int64_t n, float* scores) override;

 private:
  std::vector<float> counts_;
};

}  // namespace hybrec::trainer

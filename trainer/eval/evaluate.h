// One evaluation pass, in parallel over the trainer ranks: each rank ranks
// the cases of its users (user % ranks == rank), the metric sums and the
// items' top-K exposure counts are all-reduced, and every rank returns the
// same results: the accuracy metrics (ranking.h) and the beyond-accuracy ones
// (beyond_accuracy.h) of each subset.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/dist/communicator.h"
#include "trainer/eval/eval_cases.h"
#include "trainer/eval/ranking.h"

namespace hybrec::trainer {

// What an evaluation pass needs to know of a run.
struct EvalSettings {
  int64_t k = 10;               // HR@k, NDCG@k
  int64_t auc_negatives = 100;  // sampled negatives per case for the AUC
  int64_t history_len = 0;      // the model's history window
  uint64_t seed = 0;            // the run's seed: user sampling and AUC negatives
};

// `scorer` scores this rank's cases. Subsets with no case anywhere are left out.
std::vector<EvalResult> evaluate(const Dataset& data, Scorer& scorer, Communicator& comm,
                                 const EvalSettings& options, const std::string& split,
                                 const std::vector<EvalSubset>& subsets, int64_t max_users);

// The metrics.jsonl line of one result: {"event":"eval","split":..,"subset":..,
// "hr@K":..,"ndcg@K":..,"mrr":..,"auc":..,"coverage@K":..,"gini@K":..,
// "pop_pct@K":..,"new_share@K":..,"ild@K":..,"novelty@K":..,"users":..,
// "step":..} (K the number, e.g. "hr@10"; ild@K is -1 without text vectors).
nlohmann::json eval_event(const EvalResult& result, int64_t step);

// Two fixed-width tables of results (one row per split/subset), for the
// console: accuracy (users, HR, NDCG, MRR, AUC), then beyond accuracy.
std::string format_results(const std::vector<EvalResult>& results);

}  // namespace hybrec::trainer

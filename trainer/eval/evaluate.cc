#include "trainer/eval/evaluate.h"

#include <cstdio>

namespace hybrec::trainer {

std::vector<EvalResult> evaluate(const Dataset& data, Scorer& scorer, Communicator& comm,
                                 const EvalSettings& options, const std::string& split,
                                 const std::vector<EvalSubset>& subsets, int64_t max_users) {
  std::vector<EvalResult> results;
  for (EvalSubset subset : subsets) {
    const EvalCases cases = make_eval_cases(data, split, subset, options.history_len, comm.rank(),
                                            comm.size(), max_users, options.seed);
    MetricSums sums =
        rank_cases(cases, scorer, data.item_cold, options.k, options.auc_negatives, options.seed);
    comm.allreduce_sum(sums.data(), MetricSums::kCount);
    if (sums.users > 0) results.push_back(finish_metrics(cases, sums, options.k));
  }
  return results;
}

nlohmann::json eval_event(const EvalResult& r, int64_t step) {
  const std::string k = std::to_string(r.k);
  return {{"event", "eval"}, {"split", r.split},    {"subset", r.subset},
          {"hr@" + k, r.hr}, {"ndcg@" + k, r.ndcg}, {"mrr", r.mrr},
          {"auc", r.auc},    {"users", r.users},    {"step", step}};
}

std::string format_results(const std::vector<EvalResult>& results) {
  std::string out;
  char line[160];
  if (results.empty()) return out;
  const int k = static_cast<int>(results.front().k);
  std::snprintf(line, sizeof line, "%-6s %-9s %7s %8s %8s %8s %7s\n", "split", "subset", "users",
                ("HR@" + std::to_string(k)).c_str(), ("NDCG@" + std::to_string(k)).c_str(), "MRR",
                "AUC");
  out += line;
  for (const auto& r : results) {
    std::snprintf(line, sizeof line, "%-6s %-9s %7lld %8.4f %8.4f %8.4f %7.4f\n", r.split.c_str(),
                  r.subset.c_str(), static_cast<long long>(r.users), r.hr, r.ndcg, r.mrr, r.auc);
    out += line;
  }
  return out;
}

}  // namespace hybrec::trainer

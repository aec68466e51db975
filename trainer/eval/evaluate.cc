#include "trainer/eval/evaluate.h"

#include <cstdio>

namespace hybrec::trainer {

std::vector<EvalResult> evaluate(const Dataset& data, Scorer& scorer, Communicator& comm,
                                 const EvalSettings& options, const std::string& split,
                                 const std::vector<EvalSubset>& subsets, int64_t max_users) {
  std::vector<EvalResult> results;
  const ItemProfile items = make_item_profile(data);
  std::vector<double> exposure;
  for (EvalSubset subset : subsets) {
    const EvalCases cases = make_eval_cases(data, split, subset, options.history_len, comm.rank(),
                                            comm.size(), max_users, options.seed);
    exposure.assign(static_cast<std::size_t>(data.num_items), 0.0);
    MetricSums sums =
        rank_cases(cases, scorer, items, options.k, options.auc_negatives, options.seed, &exposure);
    comm.allreduce_sum(sums.data(), MetricSums::kCount);
    // Coverage and Gini need every rank's lists: the exposure counts too
    // (integers in doubles, so the sum is exact whatever the order).
    comm.allreduce_sum(exposure.data(), data.num_items);
    if (sums.users > 0) results.push_back(finish_metrics(cases, sums, exposure, items, options.k));
  }
  return results;
}

nlohmann::json eval_event(const EvalResult& r, int64_t step) {
  const std::string k = std::to_string(r.k);
  return {{"event", "eval"},
          {"split", r.split},
          {"subset", r.subset},
          {"hr@" + k, r.hr},
          {"ndcg@" + k, r.ndcg},
          {"mrr", r.mrr},
          {"auc", r.auc},
          {"coverage@" + k, r.beyond.coverage},
          {"gini@" + k, r.beyond.gini},
          {"pop_pct@" + k, r.beyond.pop_pct},
          {"new_share@" + k, r.beyond.new_share},
          {"ild@" + k, r.beyond.ild},
          {"novelty@" + k, r.beyond.novelty},
          {"users", r.users},
          {"step", step}};
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
  // What the lists show (beyond_accuracy.h); ILD "-" without text vectors.
  const std::string K = "@" + std::to_string(k);
  std::snprintf(line, sizeof line, "\n%-6s %-9s %11s %8s %10s %12s %7s %11s\n", "split", "subset",
                ("coverage" + K).c_str(), ("gini" + K).c_str(), ("pop_pct" + K).c_str(),
                ("new_share" + K).c_str(), ("ILD" + K).c_str(), ("novelty" + K).c_str());
  out += line;
  for (const auto& r : results) {
    const BeyondAccuracy& b = r.beyond;
    char ild[16] = "-";
    if (b.ild >= 0) std::snprintf(ild, sizeof ild, "%.4f", b.ild);
    std::snprintf(line, sizeof line, "%-6s %-9s %11.4f %8.4f %10.4f %12.4f %7s %11.3f\n",
                  r.split.c_str(), r.subset.c_str(), b.coverage, b.gini, b.pop_pct, b.new_share,
                  ild, b.novelty);
    out += line;
  }
  return out;
}

}  // namespace hybrec::trainer

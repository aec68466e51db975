#include "trainer/eval/eval_cases.h"

#include <algorithm>

#include "hybrec/kernels/error.h"
#include "hybrec/kernels/splitmix.h"

namespace hybrec::trainer {

const char* subset_name(EvalSubset subset) {
  switch (subset) {
    case EvalSubset::kWarm:
      return "warm";
    case EvalSubset::kCold:
      return "cold";
    case EvalSubset::kColdAll:
      return "cold_all";
  }
  return "?";
}

namespace {

bool kept(int64_t user, int64_t num_users, int64_t max_users, uint64_t seed) {
  if (max_users <= 0 || max_users >= num_users) return true;
  const uint64_t draw = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(user) + 0x5eedULL));
  return draw % static_cast<uint64_t>(num_users) < static_cast<uint64_t>(max_users);
}

// The last history_len items of `events` (interaction indices) before
// position `end`, left-padded with -1.
std::vector<int64_t> last_items(const Dataset& data, const std::vector<int64_t>& events,
                                int64_t history_len) {
  std::vector<int64_t> history(static_cast<std::size_t>(history_len), -1);
  const int64_t len = std::min<int64_t>(history_len, static_cast<int64_t>(events.size()));
  for (int64_t l = 0; l < len; ++l) {
    history[history_len - len + l] = data.item[events[events.size() - len + l]];
  }
  return history;
}

}  // namespace

EvalCases make_eval_cases(const Dataset& data, const std::string& split, EvalSubset subset,
                          int64_t history_len, int rank, int ranks, int64_t max_users,
                          uint64_t seed) {
  HYBREC_CHECK(split == "valid" || split == "test", "evaluation split must be valid or test, got '",
               split, "'");
  HYBREC_CHECK(split == "test" || subset == EvalSubset::kWarm,
               "cold-item evaluation uses the test split");
  EvalCases out;
  out.split = split;
  out.subset = subset;
  const Split target_split = subset != EvalSubset::kWarm ? Split::kCold
                             : split == "valid"          ? Split::kValid
                                                         : Split::kTest;
  for (int64_t u = rank; u < data.num_users; u += ranks) {
    if (!kept(u, data.num_users, max_users, seed)) continue;
    const int64_t begin = data.user_offsets[u], end = data.user_offsets[u + 1];
    // The target: the (last) event of the target split.
    int64_t target_event = -1;
    for (int64_t i = begin; i < end; ++i) {
      if (data.split[i] == target_split) target_event = i;
    }
    if (target_event < 0) continue;
    EvalCase c;
    c.user = u;
    c.target = data.item[target_event];
    std::vector<int64_t> visible;  // events the model may see, before the target
    for (int64_t i = begin; i < end; ++i) {
      const Split s = data.split[i];
      const bool seen = s == Split::kTrain || (split == "test" && s == Split::kValid);
      if (seen && i < target_event) visible.push_back(i);
      bool exclude = false;
      switch (subset) {
        case EvalSubset::kWarm:
          exclude = seen;
          break;
        case EvalSubset::kCold:
          exclude = s == Split::kCold;
          break;
        case EvalSubset::kColdAll:
          exclude = true;
          break;
      }
      if (exclude && data.item[i] != c.target) c.excluded.push_back(data.item[i]);
    }
    c.history = last_items(data, visible, history_len);
    std::sort(c.excluded.begin(), c.excluded.end());
    c.excluded.erase(std::unique(c.excluded.begin(), c.excluded.end()), c.excluded.end());
    out.cases.push_back(std::move(c));
  }
  return out;
}

}  // namespace hybrec::trainer

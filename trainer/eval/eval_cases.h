// Who is evaluated on what (DESIGN.md "Evaluation"): one leave-one-out case
// per user and split, with the history the model may see and the items
// excluded from the ranking.
//
//   valid / warm   target: the kValid event; history: kTrain events before it;
//                  excluded: the user's kTrain items.
//   test / warm    target: the kTest event; history: kTrain and kValid events
//                  before it; excluded: the user's kTrain and kValid items.
//   test / cold    target: the user's last kCold event, ranked among the cold
//                  items only (the new-item shelf); history as for test;
//                  excluded: the user's other cold items.
//   test / cold_all  the same target ranked among all items; excluded: the
//                  user's kTrain/kValid/kTest items and other cold items.
// The target itself is never excluded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/data/dataset.h"

namespace hybrec::trainer {

enum class EvalSubset { kWarm, kCold, kColdAll };
const char* subset_name(EvalSubset subset);

struct EvalCase {
  int64_t user = 0;
  int64_t target = 0;
  std::vector<int64_t> history;   // [history_len] item ids, left-padded with -1
  std::vector<int64_t> excluded;  // item ids never ranked for this case
};

struct EvalCases {
  std::string split;  // "valid" or "test"
  EvalSubset subset = EvalSubset::kWarm;
  std::vector<EvalCase> cases;
};

// The cases of `split` ("valid" or "test") and `subset` for the users
// u with u % ranks == rank (every user when ranks == 1). max_users > 0 keeps
// a seeded sample of about that many users over all ranks.
EvalCases make_eval_cases(const Dataset& data, const std::string& split, EvalSubset subset,
                          int64_t history_len, int rank, int ranks, int64_t max_users,
                          uint64_t seed);

}  // namespace hybrec::trainer

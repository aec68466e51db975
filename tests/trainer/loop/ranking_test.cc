#include "trainer/eval/ranking.h"

#include <gtest/gtest.h>

#include <cmath>

#include "loop_testing.h"
#include "trainer/eval/eval_cases.h"

namespace hybrec::trainer {
namespace {

// Scores item j as scores_[j] for every user.
class FixedScorer : public Scorer {
 public:
  explicit FixedScorer(std::vector<float> s) : scores_(std::move(s)) {}
  void score(const EvalCase*, int64_t n, float* out) override {
    for (int64_t i = 0; i < n; ++i) std::copy(scores_.begin(), scores_.end(), out + i * 6);
  }

 private:
  std::vector<float> scores_;
};

TEST(EvalCases, FollowTheLeaveOneOutProtocol) {
  const Dataset d = testing::tiny_dataset();
  const EvalCases test = make_eval_cases(d, "test", EvalSubset::kWarm, 3, 0, 1, 0, 1);
  ASSERT_EQ(test.cases.size(), 3u);
  EXPECT_EQ(test.cases[0].target, 3);
  EXPECT_EQ(test.cases[0].history, (std::vector<int64_t>{0, 1, 2}));  // train + valid
  EXPECT_EQ(test.cases[0].excluded, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(test.cases[2].history, (std::vector<int64_t>{-1, -1, 0}));  // cold 5 not visible
  const EvalCases valid = make_eval_cases(d, "valid", EvalSubset::kWarm, 3, 0, 1, 0, 1);
  ASSERT_EQ(valid.cases.size(), 2u);  // user 2 has no validation event
  EXPECT_EQ(valid.cases[0].target, 2);
  EXPECT_EQ(valid.cases[0].history, (std::vector<int64_t>{-1, 0, 1}));
  const EvalCases cold = make_eval_cases(d, "test", EvalSubset::kColdAll, 3, 0, 1, 0, 1);
  ASSERT_EQ(cold.cases.size(), 2u);
  EXPECT_EQ(cold.cases[1].user, 2);
  EXPECT_EQ(cold.cases[1].target, 5);
  EXPECT_EQ(cold.cases[1].excluded, (std::vector<int64_t>{0, 4}));
  // Ranks split users: rank 1 of 2 gets user 1 only.
  const EvalCases half = make_eval_cases(d, "test", EvalSubset::kWarm, 3, 1, 2, 0, 1);
  ASSERT_EQ(half.cases.size(), 1u);
  EXPECT_EQ(half.cases[0].user, 1);
}

EvalCases one_case(EvalSubset subset, int64_t target, std::vector<int64_t> excluded = {}) {
  EvalCases cases;
  cases.split = "test";
  cases.subset = subset;
  EvalCase c;
  c.user = 0;
  c.target = target;
  c.excluded = std::move(excluded);
  cases.cases = {c};
  return cases;
}

TEST(Ranking, CountsHigherNonExcludedItemsAndTakesTiesAtTheirExpectedPosition) {
  const Dataset d = testing::tiny_dataset();
  const ItemProfile items = make_item_profile(d);
  // Item 0 scores highest but is excluded; item 1 is higher, item 2 ties:
  // the target's position is 1 or 2, each with probability 1/2.
  const EvalCases cases = one_case(EvalSubset::kWarm, 3, {0});
  FixedScorer scorer({9, 5, 4, 4, 1, 0});
  const MetricSums s = rank_cases(cases, scorer, items, /*k=*/2, 100, 1);
  EXPECT_EQ(s.users, 1);
  EXPECT_DOUBLE_EQ(s.hr, 0.5);  // position 1 < 2, position 2 not
  EXPECT_DOUBLE_EQ(s.ndcg, 0.5 / std::log2(3.0));
  EXPECT_DOUBLE_EQ(s.mrr, (1.0 / 2.0 + 1.0 / 3.0) / 2.0);
  const MetricSums s3 = rank_cases(cases, scorer, items, /*k=*/3, 100, 1);
  EXPECT_EQ(s3.hr, 1.0);
  EXPECT_DOUBLE_EQ(s3.ndcg, (1.0 / std::log2(3.0) + 1.0 / std::log2(4.0)) / 2.0);
  // AUC: candidates 1, 2, 4, 5 -> below: 4, 5; tie: 2 -> (2 + 0.5) / 4 in expectation.
  EXPECT_GT(s3.auc, 0.4);
  EXPECT_LT(s3.auc, 0.85);
}

TEST(Ranking, ConstantScorerGetsTheRandomExpectationExactly) {
  const Dataset d = testing::tiny_dataset();
  const ItemProfile items = make_item_profile(d);
  FixedScorer scorer(std::vector<float>(6, 0.5f));
  // Six tied candidates: the target is at position 0..5 with probability 1/6 each.
  for (int64_t target : {0, 3, 5}) {
    const EvalCases cases = one_case(EvalSubset::kWarm, target);
    const MetricSums s = rank_cases(cases, scorer, items, /*k=*/2, 10, 1);
    EXPECT_DOUBLE_EQ(s.hr, 2.0 / 6.0) << "target " << target;
    EXPECT_DOUBLE_EQ(s.ndcg, (1.0 + 1.0 / std::log2(3.0)) / 6.0);
    EXPECT_DOUBLE_EQ(s.mrr, (1.0 + 1.0 / 2 + 1.0 / 3 + 1.0 / 4 + 1.0 / 5 + 1.0 / 6) / 6.0);
    EXPECT_DOUBLE_EQ(s.auc, 0.5);
    // K past the candidates: every position counts.
    EXPECT_DOUBLE_EQ(rank_cases(cases, scorer, items, /*k=*/10, 10, 1).hr, 1.0);
  }
  // Three candidates left (0, 1, 2 excluded): HR@2 = 2/3.
  const EvalCases fewer = one_case(EvalSubset::kWarm, 4, {0, 1, 2});
  EXPECT_DOUBLE_EQ(rank_cases(fewer, scorer, items, /*k=*/2, 10, 1).hr, 2.0 / 3.0);
}

TEST(Ranking, TiesBehindHigherItemsShareThePositionsAfterThem) {
  const Dataset d = testing::tiny_dataset();
  const ItemProfile items = make_item_profile(d);
  // Two higher (0, 1), three tied with the target 2 (3, 4, 5): positions 2..5.
  FixedScorer scorer({7, 8, 1, 1, 1, 1});
  const EvalCases cases = one_case(EvalSubset::kWarm, 2);
  const MetricSums s = rank_cases(cases, scorer, items, /*k=*/3, 10, 1);
  EXPECT_DOUBLE_EQ(s.hr, 1.0 / 4.0);
  EXPECT_DOUBLE_EQ(s.ndcg, (1.0 / std::log2(4.0)) / 4.0);
  EXPECT_DOUBLE_EQ(s.mrr, (1.0 / 3 + 1.0 / 4 + 1.0 / 5 + 1.0 / 6) / 4.0);
  EXPECT_EQ(rank_cases(cases, scorer, items, /*k=*/2, 10, 1).hr, 0.0);
}

TEST(Ranking, ColdSubsetRanksAmongColdItemsOnly) {
  Dataset d = testing::tiny_dataset();
  d.item_cold = {0, 0, 0, 1, 0, 1};
  const ItemProfile items = make_item_profile(d);
  EvalCases cases = one_case(EvalSubset::kCold, 5);
  FixedScorer scorer({9, 9, 9, 1, 9, 2});  // warm items all higher; cold 3 lower
  const MetricSums s = rank_cases(cases, scorer, items, 1, 10, 1);
  EXPECT_EQ(s.hr, 1.0);
  EXPECT_EQ(s.auc, 1.0);
  cases.subset = EvalSubset::kColdAll;
  const MetricSums all = rank_cases(cases, scorer, items, 1, 10, 1);
  EXPECT_EQ(all.hr, 0.0);
  EXPECT_DOUBLE_EQ(all.mrr, 1.0 / 5.0);
}

TEST(Ranking, NanScoresNeverFlatterTheModel) {
  const Dataset d = testing::tiny_dataset();
  const ItemProfile items = make_item_profile(d);
  const float nan = std::nanf("");
  // Every score NaN: the target loses to the 5 other candidates.
  FixedScorer all_nan(std::vector<float>(6, nan));
  const MetricSums s = rank_cases(one_case(EvalSubset::kWarm, 0), all_nan, items, 1, 10, 1);
  EXPECT_EQ(s.hr, 0.0);
  EXPECT_DOUBLE_EQ(s.mrr, 1.0 / 6.0);
  // A NaN target loses to numbers too.
  FixedScorer nan_target({nan, 0, 0, 0, 0, 0});
  EXPECT_DOUBLE_EQ(rank_cases(one_case(EvalSubset::kWarm, 0), nan_target, items, 1, 10, 1).mrr,
                   1.0 / 6.0);
  // NaN candidates count as higher, not as ties: items 1 and 2 above target 0.
  FixedScorer nan_others({5, nan, nan, 1, 1, 1});
  const MetricSums some = rank_cases(one_case(EvalSubset::kWarm, 0), nan_others, items, 2, 10, 1);
  EXPECT_EQ(some.hr, 0.0);
  EXPECT_DOUBLE_EQ(some.mrr, 1.0 / 3.0);
}

}  // namespace
}  // namespace hybrec::trainer

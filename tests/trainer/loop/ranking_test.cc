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

TEST(Ranking, CountsHigherNonExcludedItemsAndBreaksTiesByLowerId) {
  const Dataset d = testing::tiny_dataset();
  EvalCases cases;
  cases.split = "test";
  cases.subset = EvalSubset::kWarm;
  EvalCase c;
  c.user = 0;
  c.target = 3;
  c.excluded = {0};
  cases.cases = {c};
  // Item 0 scores highest but is excluded; items 1 (higher) and 2 (tie, lower id) rank above.
  FixedScorer scorer({9, 5, 4, 4, 1, 0});
  const MetricSums s = rank_cases(cases, scorer, d.item_cold, /*k=*/2, 100, 1);
  EXPECT_EQ(s.users, 1);
  EXPECT_EQ(s.hr, 0.0);  // rank 2, not < 2
  EXPECT_DOUBLE_EQ(s.mrr, 1.0 / 3.0);
  const MetricSums s3 = rank_cases(cases, scorer, d.item_cold, /*k=*/3, 100, 1);
  EXPECT_EQ(s3.hr, 1.0);
  EXPECT_DOUBLE_EQ(s3.ndcg, 1.0 / std::log2(4.0));
  // AUC: candidates 1, 2, 4, 5 -> below: 4, 5; tie: 2 -> (2 + 0.5) / 4 in expectation.
  EXPECT_GT(s3.auc, 0.4);
  EXPECT_LT(s3.auc, 0.85);
}

TEST(Ranking, ColdSubsetRanksAmongColdItemsOnly) {
  Dataset d = testing::tiny_dataset();
  d.item_cold = {0, 0, 0, 1, 0, 1};
  EvalCases cases;
  cases.split = "test";
  cases.subset = EvalSubset::kCold;
  EvalCase c;
  c.target = 5;
  cases.cases = {c};
  FixedScorer scorer({9, 9, 9, 1, 9, 2});  // warm items all higher; cold 3 lower
  const MetricSums s = rank_cases(cases, scorer, d.item_cold, 1, 10, 1);
  EXPECT_EQ(s.hr, 1.0);
  EXPECT_EQ(s.auc, 1.0);
  cases.subset = EvalSubset::kColdAll;
  const MetricSums all = rank_cases(cases, scorer, d.item_cold, 1, 10, 1);
  EXPECT_EQ(all.hr, 0.0);
  EXPECT_DOUBLE_EQ(all.mrr, 1.0 / 5.0);
}

TEST(Ranking, NanScoresNeverFlatterTheModel) {
  const Dataset d = testing::tiny_dataset();
  EvalCases cases;
  cases.subset = EvalSubset::kWarm;
  EvalCase c;
  c.target = 0;
  cases.cases = {c};
  FixedScorer scorer(std::vector<float>(6, std::nanf("")));
  const MetricSums s = rank_cases(cases, scorer, d.item_cold, 1, 10, 1);
  EXPECT_EQ(s.hr, 0.0);
}

}  // namespace
}  // namespace hybrec::trainer

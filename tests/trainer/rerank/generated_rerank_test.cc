// The re-rank stage of the generated-text term (trainer/rerank/
// generated_rerank.h): the fused formula on hand-computed values, the
// choice of candidates, the re-ranked row, and the scorer on a tiny case
// with a fixed base scorer and a term that records what it was asked.
#include "trainer/rerank/generated_rerank.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "testing/gguf_bytes.h"

namespace hybrec::trainer {
namespace {

using hybrec::testing::error_of;

TEST(FuseGeneratedTerm, IsTheSeedsFormula) {
  // (2 - 0.5 * 1.5) / sqrt(1.25) = 1.25 / 1.1180339887 = 1.1180339887
  EXPECT_NEAR(fuse_generated_term(2.0, -1.5, 0.5), 1.1180339887, 1e-9);
  // (1 + 3) / sqrt(2)
  EXPECT_NEAR(fuse_generated_term(1.0, 3.0, 1.0), 2.8284271247, 1e-9);
  EXPECT_EQ(fuse_generated_term(-0.7, 9.0, 0.0), -0.7);
  // A large lambda leaves nearly y alone: (5 - 2000) / sqrt(1000001).
  EXPECT_NEAR(fuse_generated_term(5.0, -2.0, 1000.0), -1.9949990025, 1e-9);
}

TEST(TopCandidates, TakesTheBestEligibleItemsBestFirstTiesByLowerId) {
  const std::vector<float> s{0.5f, 2.0f, 2.0f, -1.0f, 3.0f, 1.0f};
  EXPECT_EQ(top_candidates(s.data(), 6, 3, {4}, nullptr), (std::vector<int64_t>{1, 2, 5}));
  EXPECT_EQ(top_candidates(s.data(), 6, 2, {}, nullptr), (std::vector<int64_t>{4, 1}));
  const std::vector<uint8_t> only{1, 0, 1, 1, 1, 0};
  EXPECT_EQ(top_candidates(s.data(), 6, 3, {4}, &only), (std::vector<int64_t>{2, 0, 3}));
  EXPECT_EQ(top_candidates(s.data(), 6, 10, {0, 1, 2, 3}, nullptr), (std::vector<int64_t>{4, 5}));
}

TEST(RerankRow, FusesTheCandidatesAndKeepsTheRestInOrderBelowThem) {
  std::vector<float> s{0.5f, 2.0f, 1.8f, -1.0f, 3.0f, 1.0f};
  // The top 3 are 4, 1, 2; the term prefers 1, then 2, then 4.
  rerank_row(s.data(), 6, {4, 1, 2}, {-4.0, -1.0, -2.0}, 1.0);
  const double r2 = std::sqrt(2.0);
  EXPECT_NEAR(s[4], (3.0 - 4.0) / r2, 1e-6);
  EXPECT_NEAR(s[1], (2.0 - 1.0) / r2, 1e-6);
  EXPECT_NEAR(s[2], (1.8 - 2.0) / r2, 1e-6);
  EXPECT_GT(s[1], s[2]);
  EXPECT_GT(s[2], s[4]);
  // The others: below the lowest candidate, in their old order 5 > 0 > 3,
  // their gaps unchanged.
  EXPECT_LT(s[5], s[4]);
  EXPECT_GT(s[5], s[0]);
  EXPECT_GT(s[0], s[3]);
  EXPECT_NEAR(s[5] - s[0], 0.5, 1e-6);
  EXPECT_NEAR(s[0] - s[3], 1.5, 1e-6);
}

TEST(RerankRow, AnItemTiedWithTheLastCandidateStaysBelow) {
  std::vector<float> s{7.0f, 7.0f, 9.0f};  // item 1 ties item 0, the last candidate
  rerank_row(s.data(), 3, {2, 0}, {0.0, 0.0}, 0.5);
  EXPECT_LT(s[1], s[0]);
  EXPECT_LT(s[0], s[2]);
}

TEST(RerankRow, NaNStaysNaNAndMismatchedTermsAreAnError) {
  std::vector<float> s{NAN, 1.0f, 0.0f};
  rerank_row(s.data(), 3, {0, 1}, {-1.0, -1.0}, 1.0);
  EXPECT_TRUE(std::isnan(s[0]));
  EXPECT_LT(s[2], s[1]);
  EXPECT_NE(error_of([&] {
              rerank_row(s.data(), 3, {0, 1}, {1.0}, 1.0);
            }).find("1 terms for 2 candidates"),
            std::string::npos);
}

// Rows fixed per user.
class FixedScorer : public Scorer {
 public:
  explicit FixedScorer(std::map<int64_t, std::vector<float>> rows) : rows_(std::move(rows)) {}
  void score(const EvalCase* cases, int64_t n, float* scores) override {
    for (int64_t i = 0; i < n; ++i) {
      const auto& row = rows_.at(cases[i].user);
      std::copy(row.begin(), row.end(), scores + i * static_cast<int64_t>(row.size()));
    }
  }

 private:
  std::map<int64_t, std::vector<float>> rows_;
};

// y' = term_of[item]; remembers the candidates it was asked about.
class RecordingTerm : public GeneratedTerm {
 public:
  explicit RecordingTerm(std::vector<double> term_of) : term_of_(std::move(term_of)) {}
  std::vector<double> score(const EvalCase& c, const std::vector<int64_t>& candidates) override {
    asked[c.user] = candidates;
    std::vector<double> out;
    for (int64_t j : candidates) out.push_back(term_of_[static_cast<std::size_t>(j)]);
    return out;
  }
  std::map<int64_t, std::vector<int64_t>> asked;

 private:
  std::vector<double> term_of_;
};

TEST(GeneratedTermScorer, ReRanksTheTopNOfEachCase) {
  // 6 items; user 0 excluded item 0 (seen). The base ranks 0 > 1 > 2 > 3 >
  // 4 > 5; the term strongly prefers item 3, which is 3rd of the top 3
  // eligible (1, 2, 3), and item 5, which is outside them.
  FixedScorer base(
      {{0, {6.0f, 5.0f, 4.0f, 3.0f, 2.0f, 1.0f}}, {1, {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}}});
  RecordingTerm term({-5.0, -5.0, -5.0, -0.1, -5.0, -0.1});
  GeneratedTermScorer scorer(base, term, 6, 3, 2.0);
  std::vector<EvalCase> cases(2);
  cases[0].user = 0;
  cases[0].excluded = {0};
  cases[1].user = 1;
  std::vector<float> s(12);
  scorer.score(cases.data(), 2, s.data());
  EXPECT_EQ(term.asked.at(0), (std::vector<int64_t>{1, 2, 3}));  // the seen item is no candidate
  EXPECT_EQ(term.asked.at(1), (std::vector<int64_t>{5, 4, 3}));
  const float* u0 = s.data();
  EXPECT_GT(u0[3], u0[1]);  // the term lifted item 3 to the top of the candidates
  EXPECT_GT(u0[1], u0[2]);
  EXPECT_GT(u0[2], u0[4]);  // item 5 stays below every candidate
  EXPECT_GT(u0[4], u0[5]);
  const float* u1 = s.data() + 6;
  EXPECT_GT(u1[5], u1[3]);
  EXPECT_GT(u1[3], u1[4]);
  // (6 - 2 * 0.1) / sqrt(5) and (4 - 2 * 0.1) / sqrt(5): the formula, not a re-sort.
  EXPECT_NEAR(u1[5], 5.8 / std::sqrt(5.0), 1e-6);
  EXPECT_NEAR(u1[3], 3.8 / std::sqrt(5.0), 1e-6);
}

TEST(GeneratedTermScorer, LambdaZeroIsTheBaseUntouchedAndAsksNothing) {
  FixedScorer base({{0, {0.25f, -3.0f, 7.5f}}});
  RecordingTerm term({0.0, 0.0, 0.0});
  GeneratedTermScorer scorer(base, term, 3, 2, 0.0);
  EvalCase c;
  std::vector<float> s(3);
  scorer.score(&c, 1, s.data());
  EXPECT_EQ(s, (std::vector<float>{0.25f, -3.0f, 7.5f}));
  EXPECT_TRUE(term.asked.empty());
}

TEST(GeneratedTermScorer, TheColdMaskLimitsTheCandidates) {
  FixedScorer base({{0, {6.0f, 5.0f, 4.0f, 3.0f}}});
  RecordingTerm term({0.0, 0.0, 0.0, 0.0});
  const std::vector<uint8_t> cold{0, 1, 0, 1};
  GeneratedTermScorer scorer(base, term, 4, 5, 1.0, &cold);
  EvalCase c;
  std::vector<float> s(4);
  scorer.score(&c, 1, s.data());
  EXPECT_EQ(term.asked.at(0), (std::vector<int64_t>{1, 3}));
  EXPECT_NE(error_of([&] {
              GeneratedTermScorer(base, term, 3, 5, 1.0, &cold);
            }).find("mask of 4 items for 3"),
            std::string::npos);
  EXPECT_NE(error_of([&] { GeneratedTermScorer(base, term, 4, 0, 1.0); }).find("must be >= 1"),
            std::string::npos);
}

}  // namespace
}  // namespace hybrec::trainer

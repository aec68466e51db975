// The beyond-accuracy metrics of the top-K lists (trainer/eval/
// beyond_accuracy.h) on catalogues of 3 to 6 items, against values worked out
// by hand in the comments; and the same metrics through evaluate() on two
// ranks (threads sharing a fake communicator) against one rank.
#include "trainer/eval/beyond_accuracy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "loop_testing.h"
#include "trainer/eval/baselines.h"
#include "trainer/eval/evaluate.h"
#include "trainer/eval/ranking.h"

namespace hybrec::trainer {
namespace {

TEST(TopK, KeepsTheBestByScoreThenLowerIdWithNanFirst) {
  const float nan = std::nanf("");
  const float scores[] = {1, 3, 3, nan, 2};
  TopK top(3);
  for (int64_t j = 0; j < 5; ++j) top.offer(scores[j], j);
  EXPECT_EQ(top.take(), (std::vector<int64_t>{3, 1, 2}));
  TopK all(10);  // fewer items than K: all of them, in order
  for (int64_t j = 4; j >= 0; --j) all.offer(scores[j], j);
  EXPECT_EQ(all.take(), (std::vector<int64_t>{3, 1, 2, 4, 0}));
  TopK none(0);
  none.offer(1, 0);
  EXPECT_TRUE(none.take().empty());
}

TEST(PopularityPercentile, RanksByTrainingCountAndGivesTiesTheirMean) {
  // Ascending: items 1, 2 (0 events) at positions 0, 1 -> mean 0.5 -> 0.5 / 4;
  // item 4 at 2 -> 2/4; item 0 at 3 -> 3/4; item 3 (most events) -> 1.
  EXPECT_EQ(popularity_percentiles({5, 0, 0, 9, 2}),
            (std::vector<double>{0.75, 0.125, 0.125, 1.0, 0.5}));
  EXPECT_EQ(popularity_percentiles({3, 3, 3}), (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_EQ(popularity_percentiles({7}), (std::vector<double>{1.0}));
}

TEST(Gini, IsZeroForEqualExposureAndGrowsAsItConcentrates) {
  EXPECT_EQ(gini({2, 2, 2, 2}), 0.0);
  EXPECT_EQ(gini({0, 0, 0, 0}), 0.0);
  EXPECT_DOUBLE_EQ(gini({0, 0, 4, 0}), 0.75);  // all on one of 4: (n - 1) / n
  // sum |xi - xj| over ordered pairs / (2 n^2 mean) = 20 / 48.
  EXPECT_DOUBLE_EQ(gini({3, 0, 2, 1}), 20.0 / 48.0);
}

TEST(ListSums, AddPopularityNewItemsNoveltyAndDiversityOfOneList) {
  // 5 items, training counts 5 0 0 9 2 (16 events), items 1 and 4 cold.
  // Text: 0 (1,0); 1 (0,2) orthogonal to 0; 2 (3,0) the direction of 0;
  // 3 (0,0) no text; 4 (1,1).
  const ItemProfile items =
      make_item_profile({5, 0, 0, 9, 2}, {0, 1, 0, 0, 1}, 2, {1, 0, 0, 2, 3, 0, 0, 0, 1, 1});
  const ListSums s = list_sums({0, 1}, items);
  EXPECT_EQ(s.slots, 2);
  EXPECT_DOUBLE_EQ(s.pop_pct, 0.75 + 0.125);
  EXPECT_EQ(s.new_items, 1);
  // p_j = (c_j + 1) / (16 + 5): -log2(6/21) - log2(1/21).
  EXPECT_DOUBLE_EQ(s.novelty, std::log2(21.0 / 6.0) + std::log2(21.0));
  EXPECT_DOUBLE_EQ(s.ild, 1.0);  // orthogonal
  EXPECT_EQ(s.ild_lists, 1);
  EXPECT_NEAR(list_sums({0, 2}, items).ild, 0.0, 1e-7);           // identical direction
  EXPECT_NEAR(list_sums({0, 1, 2}, items).ild, 2.0 / 3.0, 1e-7);  // pairs 1, 0, 1
  EXPECT_NEAR(list_sums({0, 4}, items).ild, 1.0 - std::sqrt(0.5), 1e-7);
  EXPECT_DOUBLE_EQ(list_sums({3, 0}, items).ild, 1.0);  // no text: cos 0
  const ListSums one = list_sums({4}, items);           // no pair: no ILD
  EXPECT_EQ(one.ild_lists, 0);
  EXPECT_EQ(one.new_items, 1);
  const ItemProfile no_text = make_item_profile({5, 0, 0, 9, 2}, {0, 1, 0, 0, 1}, 0, {});
  EXPECT_EQ(list_sums({0, 1}, no_text).ild_lists, 0);
}

// Scores item j as scores_[j] for every user (5 items).
class FixedScorer : public Scorer {
 public:
  explicit FixedScorer(std::vector<float> s) : scores_(std::move(s)) {}
  void score(const EvalCase*, int64_t n, float* out) override {
    for (int64_t i = 0; i < n; ++i) std::copy(scores_.begin(), scores_.end(), out + i * 5);
  }

 private:
  std::vector<float> scores_;
};

TEST(BeyondAccuracy, IdenticalListsCoverKOfNItems) {
  // Three users, every one shown [0, 1] (the two highest of 5 items).
  const ItemProfile items = make_item_profile({5, 0, 0, 9, 2}, {0, 1, 0, 0, 1}, 0, {});
  EvalCases cases;
  cases.split = "test";
  cases.subset = EvalSubset::kWarm;
  for (int64_t u = 0; u < 3; ++u) cases.cases.push_back(EvalCase{u, 4, {}, {}});
  FixedScorer scorer({5, 4, 3, 2, 1});
  std::vector<double> exposure(5, 0.0);
  const MetricSums sums = rank_cases(cases, scorer, items, /*k=*/2, 10, 1, &exposure);
  EXPECT_EQ(exposure, (std::vector<double>{3, 3, 0, 0, 0}));
  const EvalResult r = finish_metrics(cases, sums, exposure, items, 2);
  EXPECT_DOUBLE_EQ(r.beyond.coverage, 2.0 / 5.0);
  // Ascending 0 0 0 3 3, weights 2i - 6 = -4 -2 0 2 4: 18 / (5 * 6).
  EXPECT_DOUBLE_EQ(r.beyond.gini, 0.6);
  EXPECT_DOUBLE_EQ(r.beyond.pop_pct, (0.75 + 0.125) / 2.0);
  EXPECT_DOUBLE_EQ(r.beyond.new_share, 0.5);
  EXPECT_DOUBLE_EQ(r.beyond.novelty, (std::log2(21.0 / 6.0) + std::log2(21.0)) / 2.0);
  EXPECT_EQ(r.beyond.ild, -1.0);  // no text vectors
}

TEST(BeyondAccuracy, ColdSubsetCountsCoverageAndGiniOverColdItems) {
  // Cold items 2, 3, 4 with exposure 2, 1, 0 (warm items' exposure ignored).
  const ItemProfile items = make_item_profile({1, 1, 0, 0, 0}, {0, 0, 1, 1, 1}, 0, {});
  ListSums sums;
  sums.slots = 3;
  sums.new_items = 3;
  const BeyondAccuracy b = finish_beyond_accuracy(sums, {9, 9, 2, 1, 0}, items, true);
  EXPECT_DOUBLE_EQ(b.coverage, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(b.gini, 4.0 / 9.0);  // ascending 0 1 2, weights -2 0 2: 4 / (3 * 3)
  EXPECT_EQ(b.new_share, 1.0);
}

// Ranks on threads of one process: every collective meets all of them, sums,
// and hands each the same result.
class ThreadRanks {
 public:
  explicit ThreadRanks(int size) : size_(size) {}
  int size() const { return size_; }
  void barrier() {
    std::unique_lock<std::mutex> lock(mutex_);
    const int64_t generation = generation_;
    if (++waiting_ == size_) {
      waiting_ = 0;
      ++generation_;
      arrived_.notify_all();
    } else {
      arrived_.wait(lock, [&] { return generation_ != generation; });
    }
  }
  void allreduce_sum(int rank, double* data, int64_t count) {
    barrier();
    if (rank == 0) sum_.assign(static_cast<std::size_t>(count), 0.0);
    barrier();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (int64_t i = 0; i < count; ++i) sum_[i] += data[i];
    }
    barrier();
    std::copy(sum_.begin(), sum_.end(), data);
    barrier();
  }

 private:
  int size_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  int waiting_ = 0;
  int64_t generation_ = 0;
  std::vector<double> sum_;
};

class ThreadCommunicator : public Communicator {
 public:
  ThreadCommunicator(ThreadRanks& ranks, int rank) : ranks_(ranks), rank_(rank) {}
  using Communicator::allreduce_sum;
  int rank() const override { return rank_; }
  int size() const override { return ranks_.size(); }
  const char* backend() const override { return "threads"; }
  std::unique_ptr<Pending> start_allreduce_sum(float*, int64_t) override {
    throw std::logic_error("evaluation reduces doubles only");
  }
  void allreduce_sum(double* data, int64_t count) override {
    ranks_.allreduce_sum(rank_, data, count);
  }
  void broadcast(void*, int64_t, int) override { throw std::logic_error("not in evaluation"); }
  void barrier() override { ranks_.barrier(); }

 private:
  ThreadRanks& ranks_;
  int rank_;
};

// Scores item j for user u as (j + 2u) mod 6: each user gets another list.
class ShiftedScorer : public Scorer {
 public:
  void score(const EvalCase* cases, int64_t n, float* out) override {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < 6; ++j)
        out[i * 6 + j] = static_cast<float>((j + 2 * cases[i].user) % 6);
    }
  }
};

TEST(BeyondAccuracy, TwoRanksReduceExposureAndListSumsToTheOneRankResult) {
  Dataset d = testing::tiny_dataset();
  // Text: items 0, 2, 3 (1,0); 1, 4 (0,1); 5 (1,1).
  d.text_dim = 2;
  d.item_text_emb = {1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1};
  EvalSettings settings;
  settings.k = 2;
  settings.history_len = 3;
  settings.seed = 1;
  // Test/warm cases: user 0 target 3 (candidates 3 4 5: list [5, 4]), user 1
  // target 4 (candidates 0 3 4 5, scores 2 5 0 1: [3, 0]), user 2 target 4
  // (candidates 1..5, scores 5 0 1 2 3: [1, 5]). Rank 0 has users 0 and 2.
  ThreadRanks ranks(2);
  std::vector<EvalResult> on_rank[2];
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      ThreadCommunicator comm(ranks, r);
      ShiftedScorer scorer;
      on_rank[r] = evaluate(d, scorer, comm, settings, "test", {EvalSubset::kWarm}, 0);
    });
  }
  for (auto& t : threads) t.join();
  auto local = make_local_communicator();
  ShiftedScorer scorer;
  const auto one = evaluate(d, scorer, *local, settings, "test", {EvalSubset::kWarm}, 0);
  ASSERT_EQ(one.size(), 1u);
  for (const auto& results : on_rank) {
    ASSERT_EQ(results.size(), 1u);
    const EvalResult& r = results.front();
    EXPECT_EQ(r.users, 3);
    // Exposure 1 1 0 1 1 2 over the 6 items.
    EXPECT_DOUBLE_EQ(r.beyond.coverage, 5.0 / 6.0);
    // Ascending 0 1 1 1 1 2, weights -5 -3 -1 1 3 5: 10 / (6 * 6).
    EXPECT_DOUBLE_EQ(r.beyond.gini, 10.0 / 36.0);
    EXPECT_DOUBLE_EQ(r.beyond.new_share, 2.0 / 6.0);  // item 5, twice
    // Training counts 2 2 0 0 0 0: items 2..5 tie at positions 0..3 (1.5 / 5),
    // items 0, 1 at 4, 5 (4.5 / 5). Slots 5 4 3 0 1 5: 0.3 * 4 + 0.9 * 2.
    EXPECT_DOUBLE_EQ(r.beyond.pop_pct, 3.0 / 6.0);
    // p = (c + 1) / (4 + 6): 3/10 for items 0, 1, 1/10 for the others.
    EXPECT_DOUBLE_EQ(r.beyond.novelty, (4 * std::log2(10.0) + 2 * std::log2(10.0 / 3.0)) / 6.0);
    // Lists [5, 4] and [1, 5]: 1 - 1/sqrt(2); [3, 0]: 0.
    EXPECT_NEAR(r.beyond.ild, 2.0 * (1.0 - std::sqrt(0.5)) / 3.0, 1e-7);
    // MRR: target positions 2, 3, 2.
    EXPECT_DOUBLE_EQ(r.mrr, (1.0 / 3 + 1.0 / 4 + 1.0 / 3) / 3.0);
    EXPECT_EQ(r.beyond.coverage, one.front().beyond.coverage);
    EXPECT_EQ(r.beyond.gini, one.front().beyond.gini);
    EXPECT_NEAR(r.beyond.novelty, one.front().beyond.novelty, 1e-12);
  }
}

TEST(EvalEvent, NamesTheBeyondAccuracyKeysWithK) {
  EvalResult r;
  r.split = "test";
  r.subset = "cold_all";
  r.k = 10;
  r.beyond = BeyondAccuracy{0.25, 0.5, 0.75, 0.125, -1, 7.5};
  const nlohmann::json e = eval_event(r, 3);
  EXPECT_EQ(e.at("coverage@10"), 0.25);
  EXPECT_EQ(e.at("gini@10"), 0.5);
  EXPECT_EQ(e.at("pop_pct@10"), 0.75);
  EXPECT_EQ(e.at("new_share@10"), 0.125);
  EXPECT_EQ(e.at("ild@10"), -1);
  EXPECT_EQ(e.at("novelty@10"), 7.5);
  const std::string table = format_results({r});
  EXPECT_NE(table.find("coverage@10"), std::string::npos) << table;
  EXPECT_NE(table.find("novelty@10"), std::string::npos) << table;
  EXPECT_NE(table.find("cold_all"), std::string::npos) << table;
}

TEST(RandomScorer, IsAPureFunctionOfSeedUserAndItem) {
  RandomScorer scorer(6, 42);
  std::vector<EvalCase> cases(2);
  cases[0].user = 3;
  cases[1].user = 5;
  std::vector<float> both(12), alone(6);
  scorer.score(cases.data(), 2, both.data());
  scorer.score(cases.data() + 1, 1, alone.data());
  EXPECT_TRUE(std::equal(alone.begin(), alone.end(), both.begin() + 6));
  for (float s : both) {
    EXPECT_GE(s, 0.0f);
    EXPECT_LT(s, 1.0f);
  }
  EXPECT_FALSE(std::equal(both.begin(), both.begin() + 6, both.begin() + 6));
  RandomScorer other(6, 43);
  std::vector<float> reseeded(6);
  other.score(cases.data() + 1, 1, reseeded.data());
  EXPECT_NE(reseeded, alone);
}

}  // namespace
}  // namespace hybrec::trainer

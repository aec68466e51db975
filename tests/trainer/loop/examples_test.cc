#include "trainer/loop/examples.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "hybrec/kernels/error.h"
#include "loop_testing.h"
#include "trainer/loop/batch_builder.h"
#include "trainer/loop/lr_schedule.h"

namespace hybrec::trainer {
namespace {

TEST(TrainingSet, HoldsOnlyTrainEventsInUserTimeOrder) {
  const Dataset d = testing::tiny_dataset();
  const TrainingSet set = make_training_set(d);
  EXPECT_EQ(set.train_items, (std::vector<int64_t>{0, 1, 1, 0}));
  EXPECT_EQ(set.user_begin, (std::vector<int64_t>{0, 2, 3, 4}));
  EXPECT_EQ(set.example_pos, (std::vector<int64_t>{0, 1, 0, 0}));
  EXPECT_EQ(set.item_count, (std::vector<int64_t>{2, 2, 0, 0, 0, 0}));
}

TEST(TrainingSet, EmptyTrainingSplitIsAnError) {
  Dataset d = testing::tiny_dataset();
  for (auto& s : d.split) s = Split::kTest;
  EXPECT_THROW(make_training_set(d), Error);
}

TEST(NegativeSampler, DrawsOnlyTrainingItemsNeverTheTargetAndIsSeeded) {
  const Dataset d = testing::tiny_dataset();
  const TrainingSet set = make_training_set(d);
  const NegativeSampler sampler(set, Sampler::kUniform, 0.75, 7);
  std::vector<int64_t> items(50), again(50);
  std::vector<float> log_q(50);
  sampler.sample(0, 3, /*target=*/0, 50, items.data(), log_q.data());
  for (int64_t j : items) EXPECT_EQ(j, 1);  // the only training item but the target
  EXPECT_NEAR(log_q[0], std::log(50.0 * 0.5), 1e-5);
  sampler.sample(2, 9, 5, 50, items.data(), log_q.data());
  sampler.sample(2, 9, 5, 50, again.data(), log_q.data());
  EXPECT_EQ(items, again);
  for (int64_t j : items) EXPECT_TRUE(j == 0 || j == 1);  // cold item 5 and unseen items never
}

TEST(NegativeSampler, PopularityFollowsCountToTheAlpha) {
  Dataset d = testing::tiny_dataset();
  TrainingSet set = make_training_set(d);
  set.item_count = {9, 1, 0, 0, 0, 0};
  const NegativeSampler sampler(set, Sampler::kPopularity, 1.0, 3);
  std::vector<int64_t> items(20000);
  std::vector<float> log_q(20000);
  sampler.sample(0, 0, /*target=*/4, 20000, items.data(), log_q.data());
  const double share = std::count(items.begin(), items.end(), 0) / 20000.0;
  EXPECT_NEAR(share, 0.9, 0.01);
}

TEST(EpochOrder, IsASeededPermutationThatChangesPerEpoch) {
  auto a = epoch_order(1000, 5, 0), b = epoch_order(1000, 5, 0), c = epoch_order(1000, 5, 1);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::sort(c.begin(), c.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(c[i], i);
  EXPECT_EQ(steps_per_epoch(1000, 2, 64), 7);
}

TEST(BatchBuilder, DeduplicatesKeysAndBuildsLeftPaddedHistory) {
  const Dataset d = testing::tiny_dataset();
  const TrainingSet set = make_training_set(d);
  const NegativeSampler sampler(set, Sampler::kUniform, 0.75, 1);
  BatchBuilder builder(set, sampler, /*negatives=*/2, /*history_len=*/3);
  const int64_t examples[] = {1, 0, 1};  // user 0's second event, its first, the second again
  Batch b;
  builder.build(0, examples, 3, &b);
  ASSERT_EQ(b.size, 3);
  EXPECT_EQ(b.candidates, 3);
  EXPECT_EQ(b.user_ids, (std::vector<int64_t>{0}));
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(b.user_slot[i], 0);
  // Candidates: column 0 the target, then negatives (never the target).
  EXPECT_EQ(b.item_ids[b.cand_slot[0]], 1);
  EXPECT_EQ(b.item_ids[b.cand_slot[3]], 0);
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t c = 1; c < 3; ++c) {
      EXPECT_NE(b.cand_slot[i * 3 + c], b.cand_slot[i * 3]);
    }
    EXPECT_EQ(b.log_q[i * 3], 0.0f);
  }
  // History of example 1 (user 0, item 1): [-1, -1, item 0].
  EXPECT_EQ(b.hist_slot[0], -1);
  EXPECT_EQ(b.hist_slot[1], -1);
  EXPECT_EQ(b.item_ids[b.hist_slot[2]], 0);
  // Example 0 is the user's first event: no history at all.
  for (int64_t l = 0; l < 3; ++l) EXPECT_EQ(b.hist_slot[3 + l], -1);
  std::vector<int64_t> ids = b.item_ids;
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());  // each item once

  // The builder's scratch is reset: a second batch dedups from scratch.
  const int64_t user2[] = {3};
  builder.build(0, user2, 1, &b);
  EXPECT_EQ(b.user_ids, (std::vector<int64_t>{2}));
  EXPECT_EQ(b.user_slot[0], 0);
}

TEST(LearningRate, WarmsUpThenDecaysToTheFloor) {
  TrainOptions o;
  o.lr = 1.0;
  o.warmup_steps = 10;
  o.min_lr_ratio = 0.1;
  o.decay = Decay::kCosine;
  EXPECT_DOUBLE_EQ(learning_rate(o, 0, 110), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate(o, 9, 110), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(o, 10, 110), 1.0);
  EXPECT_NEAR(learning_rate(o, 109, 110), 0.1, 1e-12);
  EXPECT_NEAR(learning_rate(o, 10 + 99 / 2.0, 110), 0.55, 0.02);
  o.decay = Decay::kNone;
  EXPECT_DOUBLE_EQ(learning_rate(o, 50, 110), 1.0);
}

}  // namespace
}  // namespace hybrec::trainer

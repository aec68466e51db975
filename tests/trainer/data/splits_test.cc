// finalize() and assign_splits(): sort order, leave-one-out by time, cold.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "trainer/data/data_testing.h"
#include "trainer/data/dataset.h"

namespace hybrec::trainer {
namespace {

using testing::error_of;

Dataset events(int64_t users, int64_t items, std::vector<int64_t> user, std::vector<int64_t> item,
               std::vector<int64_t> time) {
  Dataset d;
  d.name = "t";
  d.num_users = users;
  d.num_items = items;
  d.user = std::move(user);
  d.item = std::move(item);
  d.timestamp = std::move(time);
  d.rating.assign(d.user.size(), 1.0f);
  return d;
}

TEST(Finalize, SortsByUserThenTimeKeepingFileOrderOnTies) {
  Dataset d = events(2, 5, {1, 0, 1, 0, 0}, {0, 1, 2, 3, 4}, {5, 9, 5, 1, 9});
  finalize(d);
  EXPECT_EQ(d.user, (std::vector<int64_t>{0, 0, 0, 1, 1}));
  EXPECT_EQ(d.timestamp, (std::vector<int64_t>{1, 9, 9, 5, 5}));
  // Ties (user 0 at t=9: items 1 then 4; user 1 at t=5: items 0 then 2)
  // keep the order they came in.
  EXPECT_EQ(d.item, (std::vector<int64_t>{3, 1, 4, 0, 2}));
  EXPECT_EQ(d.user_offsets, (std::vector<int64_t>{0, 3, 5}));
  EXPECT_EQ(d.item_cold, std::vector<uint8_t>(5, 0));
  EXPECT_EQ(d.item_text, std::vector<std::string>(5, ""));
}

TEST(Finalize, RejectsOutOfRangeIdsAndLengthMismatch) {
  Dataset d = events(2, 3, {0, 1, 1}, {0, 3, 1}, {1, 2, 3});
  std::string msg = error_of([&] { finalize(d); });
  EXPECT_NE(msg.find("item id 3 out of range [0, 3) in /interactions/item at row 1"),
            std::string::npos)
      << msg;
  d = events(2, 3, {0, 2}, {0, 1}, {1, 2});
  msg = error_of([&] { finalize(d); });
  EXPECT_NE(msg.find("user id 2 out of range [0, 2) in /interactions/user at row 1"),
            std::string::npos)
      << msg;
  d = events(2, 3, {0, 1}, {0, 1}, {1, 2});
  d.rating.pop_back();
  msg = error_of([&] { finalize(d); });
  EXPECT_NE(msg.find("/interactions/rating has 1 rows, expected 2"), std::string::npos) << msg;
  d = events(2, 3, {0, 1}, {0, 1}, {1, 2});
  d.text_dim = 4;
  d.text_encoder = "x";
  d.item_text_emb.assign(8, 0.0f);
  msg = error_of([&] { finalize(d); });
  EXPECT_NE(msg.find("/items/text_emb has 8 values, expected num_items 3 x text_dim 4"),
            std::string::npos)
      << msg;
}

TEST(AssignSplits, LeaveOneOutByTimeOnWarmEvents) {
  // User 0: 4 warm events given out of time order; user 1: 2 warm; user 2: 1.
  Dataset d = events(3, 6, {0, 0, 0, 0, 1, 1, 2}, {0, 1, 2, 3, 4, 5, 0}, {40, 10, 30, 20, 1, 2, 7});
  assign_splits(d);
  // User 0 by time: items 1 (10), 3 (20), 2 (30), 0 (40).
  EXPECT_EQ(d.item, (std::vector<int64_t>{1, 3, 2, 0, 4, 5, 0}));
  EXPECT_EQ(d.split, (std::vector<Split>{Split::kTrain, Split::kTrain, Split::kValid, Split::kTest,
                                         Split::kTrain, Split::kTest, Split::kTrain}));
}

TEST(AssignSplits, TiesAreBrokenByFileOrder) {
  Dataset d = events(1, 4, {0, 0, 0, 0}, {3, 2, 1, 0}, {5, 5, 5, 5});
  assign_splits(d);
  EXPECT_EQ(d.item, (std::vector<int64_t>{3, 2, 1, 0}));
  EXPECT_EQ(d.split,
            (std::vector<Split>{Split::kTrain, Split::kTrain, Split::kValid, Split::kTest}));
}

TEST(AssignSplits, ColdEventsAreNeverTrainAndSkipTheWarmCount) {
  // Item 2 is cold. User 0's newest event is cold: test/valid go to the
  // newest warm ones. User 1 has one warm event only: it stays train.
  Dataset d = events(2, 4, {0, 0, 0, 0, 0, 1, 1}, {0, 1, 3, 2, 2, 2, 1}, {1, 2, 3, 4, 5, 1, 2});
  d.item_cold = {0, 0, 1, 0};
  assign_splits(d);
  EXPECT_EQ(d.split, (std::vector<Split>{Split::kTrain, Split::kValid, Split::kTest, Split::kCold,
                                         Split::kCold, Split::kCold, Split::kTrain}));
  for (size_t r = 0; r < d.split.size(); ++r) {
    EXPECT_EQ(d.split[r] == Split::kCold, d.item[r] == 2) << "row " << r;
  }
}

TEST(AssignSplits, ReassignsFromScratch) {
  Dataset d = events(1, 3, {0, 0, 0}, {0, 1, 2}, {1, 2, 3});
  assign_splits(d);
  d.item_cold = {0, 0, 1};
  assign_splits(d);
  // Two warm events left: a test event but no validation event.
  EXPECT_EQ(d.split, (std::vector<Split>{Split::kTrain, Split::kTest, Split::kCold}));
}

TEST(AssignSplits, InconsistentColdFlagsAreRejectedByFinalize) {
  Dataset d = events(1, 3, {0, 0, 0}, {0, 1, 2}, {1, 2, 3});
  assign_splits(d);
  d.item_cold = {0, 0, 1};  // changed without reassigning
  const std::string msg = error_of([&] { finalize(d); });
  EXPECT_NE(msg.find("disagrees with item 2 being cold"), std::string::npos) << msg;
}

}  // namespace
}  // namespace hybrec::trainer

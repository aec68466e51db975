// Key routing: jump consistent hash through the replaceable Slicer.
#include "parameter_server/wire/slicer.h"

#include <gtest/gtest.h>

#include <vector>

#include "hybrec/kernels/error.h"
#include "parameter_server/wire/key_groups.h"

namespace hybrec::ps {
namespace {

TEST(JumpHashSlicer, EveryShardGetsAFairShareOfDenseIds) {
  for (int shards : {1, 2, 3, 4, 7}) {
    JumpHashSlicer slicer(shards);
    std::vector<int> counts(shards, 0);
    const int n = 70000;
    for (int64_t k = 0; k < n; ++k) {
      const int s = slicer.shard_of(k);
      ASSERT_GE(s, 0);
      ASSERT_LT(s, shards);
      ++counts[s];
    }
    for (int c : counts) EXPECT_NEAR(c, n / shards, 0.03 * n / shards) << shards << " shards";
  }
}

TEST(JumpHashSlicer, AddingAShardOnlyMovesKeysToTheNewShard) {
  JumpHashSlicer three(3), four(4);
  int moved = 0;
  const int n = 40000;
  for (int64_t k = -n / 2; k < n / 2; ++k) {
    const int before = three.shard_of(k), after = four.shard_of(k);
    if (before != after) {
      ASSERT_EQ(after, 3) << "key " << k << " moved between old shards";
      ++moved;
    }
  }
  EXPECT_NEAR(moved, n / 4, 0.05 * n / 4);
}

TEST(JumpHashSlicer, IsAPureFunctionOfKeyAndCount) {
  JumpHashSlicer a(5), b(5);
  for (int64_t k : {0LL, 1LL, -1LL, 1LL << 62, 123456789LL})
    EXPECT_EQ(a.shard_of(k), b.shard_of(k));
}

TEST(JumpHashSlicer, RejectsZeroShards) { EXPECT_THROW(JumpHashSlicer(0), hybrec::Error); }

TEST(KeyGroups, DistinctKeysInFirstOccurrenceOrderWithRepeatChains) {
  const std::vector<int64_t> keys = {5, 9, 5, -1, 9, 5};
  const KeyGroups g = group_keys(keys.data(), 6);
  EXPECT_EQ(g.first, (std::vector<int64_t>{0, 1, 3}));
  EXPECT_TRUE(g.has_duplicates);
  EXPECT_EQ(g.next, (std::vector<int64_t>{2, 4, 5, -1, -1, -1}));
  const KeyGroups empty = group_keys(nullptr, 0);
  EXPECT_TRUE(empty.first.empty());
  EXPECT_FALSE(empty.has_duplicates);
}

}  // namespace
}  // namespace hybrec::ps

#include "trainer/loop/dropped_item_rows.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "trainer/model/id_tables.h"
#include "trainer/model/item_tower.h"

namespace hybrec::trainer {
namespace {

// Five items in a 2-d text space: 0, 1 and 2 read alike (along x), 3 reads
// otherwise (along y), 4 has never been trained on (cold) but reads like 0.
struct Fixture {
  Fixture() {
    data.num_items = 5;
    data.text_dim = 2;
    data.item_text_emb = {1.0f, 0.0f, 0.95f, 0.05f, 0.9f, 0.1f, 0.0f, 1.0f, 1.0f, 0.01f};
    set.item_count = {4, 3, 2, 5, 0};
    config.dim = 2;
    config.text_dim = 2;
    config.unseen_items = UnseenItems::kZero;
    config.id_dropout = 1.0f;  // every item dropped
    config.unseen_item_neighbors = 2;
  }
  Dataset data;
  TrainingSet set;
  ModelConfig config;
};

// Item j's row on the "server": (10 j, -j).
RowFetcher server_rows(std::vector<std::vector<int64_t>>* calls) {
  return [calls](const std::string& table, const int64_t* keys, int64_t n, float* out) {
    EXPECT_EQ(table, kItemTable);
    calls->emplace_back(keys, keys + n);
    for (int64_t i = 0; i < n; ++i) {
      out[2 * i] = 10.0f * static_cast<float>(keys[i]);
      out[2 * i + 1] = -static_cast<float>(keys[i]);
    }
  };
}

TEST(DroppedItemRows, NeighboursAreTheNearestTrainedItemsOtherThanItself) {
  Fixture f;
  const DroppedItemRows rows(f.config, f.data, f.set);
  ASSERT_TRUE(rows.active());
  EXPECT_EQ(std::vector<int64_t>(rows.neighbors(0), rows.neighbors(0) + 2),
            (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(std::vector<int64_t>(rows.neighbors(2), rows.neighbors(2) + 2),
            (std::vector<int64_t>{1, 0}));
  // Item 4 is never a neighbour (no training event); its own are 0 and 1.
  EXPECT_EQ(std::vector<int64_t>(rows.neighbors(4), rows.neighbors(4) + 2),
            (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(std::vector<int64_t>(rows.neighbors(3), rows.neighbors(3) + 2),
            (std::vector<int64_t>{2, 1}));
}

TEST(DroppedItemRows, ADroppedItemTakesTheMeanOfItsNeighboursCurrentRows) {
  Fixture f;
  DroppedItemRows rows(f.config, f.data, f.set);
  Batch batch;
  batch.item_ids = {3, 0, 7};  // 7: arrived on a stream after the lists were built
  std::vector<std::vector<int64_t>> calls;
  std::vector<float> out;
  const float* got = rows.fill(batch, 5, server_rows(&calls), &out);
  ASSERT_EQ(got, out.data());
  ASSERT_EQ(out.size(), 6u);
  EXPECT_FLOAT_EQ(out[0], 15.0f);  // item 3: mean of items 2 and 1
  EXPECT_FLOAT_EQ(out[1], -1.5f);
  EXPECT_FLOAT_EQ(out[2], 15.0f);  // item 0: mean of items 1 and 2
  EXPECT_FLOAT_EQ(out[3], -1.5f);
  EXPECT_EQ(out[4], 0.0f);  // no neighbours: zero, as plain dropout
  EXPECT_EQ(out[5], 0.0f);
  ASSERT_EQ(calls.size(), 1u);  // one read per step
  EXPECT_EQ(calls[0], (std::vector<int64_t>{2, 1, 1, 2}));
}

TEST(DroppedItemRows, OnlyTheItemsTheModelDropsAreRead) {
  Fixture f;
  f.config.id_dropout = 0.5f;
  DroppedItemRows rows(f.config, f.data, f.set);
  Batch batch;
  batch.item_ids = {0, 1, 2, 3, 4};
  for (uint64_t seed = 1; seed < 6; ++seed) {
    std::vector<std::vector<int64_t>> calls;
    std::vector<float> out;
    const float* got = rows.fill(batch, seed, server_rows(&calls), &out);
    std::vector<int64_t> want_keys;
    for (int64_t id : batch.item_ids) {
      const bool dropped = id_keep(seed, id, 0.5f) == 0.0f;
      if (dropped) want_keys.insert(want_keys.end(), rows.neighbors(id), rows.neighbors(id) + 2);
      if (got == nullptr) continue;
      // Item j's neighbours' mean has first coordinate 10 * (their mean id),
      // non-zero for every item here.
      EXPECT_EQ(out[static_cast<std::size_t>(2 * id)] != 0.0f, dropped)
          << "seed " << seed << " item " << id;
    }
    EXPECT_EQ(got == nullptr, want_keys.empty()) << "seed " << seed;
    if (!want_keys.empty()) {
      EXPECT_EQ(calls.at(0), want_keys) << "seed " << seed;
    }
  }
}

TEST(DroppedItemRows, InactiveWithoutDropoutNeighboursTextOrIdRows) {
  auto inactive = [](auto change) {
    Fixture f;
    change(&f);
    return !DroppedItemRows(f.config, f.data, f.set).active();
  };
  EXPECT_TRUE(inactive([](Fixture* f) { f->config.id_dropout = 0.0f; }));
  EXPECT_TRUE(inactive([](Fixture* f) { f->config.unseen_item_neighbors = 0; }));
  EXPECT_TRUE(inactive([](Fixture* f) { f->config.use_id = false; }));
  EXPECT_TRUE(inactive([](Fixture* f) { f->config.use_text = f->config.use_text_score = false; }));
  EXPECT_TRUE(inactive([](Fixture* f) {
    f->data.text_dim = 0;
    f->data.item_text_emb.clear();
  }));
  Fixture f;
  DroppedItemRows rows(f.config, f.data, f.set);
  f.config.unseen_item_neighbors = 0;
  DroppedItemRows off(f.config, f.data, f.set);
  Batch batch;
  batch.item_ids = {0};
  std::vector<std::vector<int64_t>> calls;
  std::vector<float> out;
  EXPECT_EQ(off.fill(batch, 1, server_rows(&calls), &out), nullptr);
  EXPECT_TRUE(calls.empty());
}

}  // namespace
}  // namespace hybrec::trainer

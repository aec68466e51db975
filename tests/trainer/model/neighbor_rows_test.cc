#include "trainer/model/neighbor_rows.h"

#include <gtest/gtest.h>

#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {
namespace {

// Five items in a 2-d text space: 0 and 1 point along x, 2 along y, 3 is
// untrained and reads like 0 and 1, 4 is untrained with no text.
struct Catalogue {
  std::vector<float> text = {1.0f, 0.0f, 0.9f, 0.1f, 0.0f, 1.0f, 2.0f, 0.05f, 0.0f, 0.0f};
  std::vector<float> rows = {1.0f, 2.0f, 3.0f, 4.0f, -5.0f, 7.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  std::vector<uint8_t> unseen = std::vector<uint8_t>(5, 0);
  Catalogue() { unseen[3] = unseen[4] = 1; }
};

TEST(NeighborRows, AnUntrainedItemTakesTheMeanOfItsNearestTrainedRowsByText) {
  Catalogue c;
  fill_untrained_rows_from_text_neighbors(c.text.data(), 2, 5, 2, c.unseen, 2, c.rows.data());
  // Item 3's nearest by cosine are 0 (cos ~1.0) and 1 (cos ~0.99), not 2:
  // the mean of (1, 2) and (3, 4). Its text vector's length does not count.
  EXPECT_FLOAT_EQ(c.rows[6], 2.0f);
  EXPECT_FLOAT_EQ(c.rows[7], 3.0f);
  // Without text there is nothing to compare: the row stays zero.
  EXPECT_EQ(c.rows[8], 0.0f);
  EXPECT_EQ(c.rows[9], 0.0f);
  // Trained rows are untouched.
  EXPECT_EQ(std::vector<float>(c.rows.begin(), c.rows.begin() + 6),
            (std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f, -5.0f, 7.0f}));
}

TEST(NeighborRows, KAboveTheTrainedCountTakesEveryTrainedRow) {
  Catalogue c;
  fill_untrained_rows_from_text_neighbors(c.text.data(), 2, 5, 2, c.unseen, 50, c.rows.data());
  EXPECT_FLOAT_EQ(c.rows[6], (1.0f + 3.0f - 5.0f) / 3.0f);
  EXPECT_FLOAT_EQ(c.rows[7], (2.0f + 4.0f + 7.0f) / 3.0f);
}

TEST(NeighborRows, OneNeighbourIsTheNearest) {
  Catalogue c;
  c.text[6] = 0.1f;  // item 3 now reads like item 2
  c.text[7] = 1.0f;
  fill_untrained_rows_from_text_neighbors(c.text.data(), 2, 5, 2, c.unseen, 1, c.rows.data());
  EXPECT_EQ(c.rows[6], -5.0f);
  EXPECT_EQ(c.rows[7], 7.0f);
}

TEST(NeighborRows, UntrainedItemsAreNeverNeighbours) {
  // Item 2 untrained too: item 3's two neighbours are 0 and 1 whatever its
  // text, and item 2 is filled from the trained rows only.
  Catalogue c;
  c.unseen[2] = 1;
  c.rows[4] = c.rows[5] = 0.0f;
  fill_untrained_rows_from_text_neighbors(c.text.data(), 2, 5, 2, c.unseen, 2, c.rows.data());
  EXPECT_FLOAT_EQ(c.rows[4], 2.0f);
  EXPECT_FLOAT_EQ(c.rows[5], 3.0f);
}

TEST(NeighborRows, NoTrainedItemLeavesTheRowsZero) {
  Catalogue c;
  c.unseen.assign(5, 1);
  c.rows.assign(10, 0.0f);
  fill_untrained_rows_from_text_neighbors(c.text.data(), 2, 5, 2, c.unseen, 3, c.rows.data());
  EXPECT_EQ(c.rows, std::vector<float>(10, 0.0f));
}

TEST(NeighborRows, PrepareFlagsTheRowsBeforeFillingThem) {
  Catalogue c;
  ModelConfig config;
  config.dim = 2;
  config.text_dim = 2;
  config.unseen_items = UnseenItems::kZero;
  config.unseen_item_neighbors = 2;
  const std::vector<uint8_t> unseen =
      prepare_item_rows_for_ranking(config, c.text.data(), 5, c.rows.data());
  EXPECT_EQ(unseen, c.unseen);  // item 3 is still new, so a boost still reaches it
  EXPECT_FLOAT_EQ(c.rows[6], 2.0f);
  // Off, or in the CF-only ablation (no text side): the rows stay as they are.
  ModelConfig cf_only = config;
  cf_only.use_text = cf_only.use_text_score = false;
  config.unseen_item_neighbors = 0;
  for (const ModelConfig& unfilled : {config, cf_only}) {
    Catalogue d;
    EXPECT_EQ(prepare_item_rows_for_ranking(unfilled, d.text.data(), 5, d.rows.data()), d.unseen);
    EXPECT_EQ(d.rows[6], 0.0f);
  }
}

// Serving's rebuilds: the lists are reused while the untrained set and the
// text stay, the means always come from the current rows.
TEST(NeighborRows, TheCacheSearchesAgainOnlyWhenTheUntrainedSetOrTheTextChanges) {
  TextNeighborCache cache;
  auto fill = [&cache](Catalogue& c) {
    cache.fill(c.text.data(), 2, 5, 2, c.unseen, 2, c.rows.data());
  };
  Catalogue a;
  fill(a);
  EXPECT_EQ(cache.searches(), 1);
  EXPECT_FLOAT_EQ(a.rows[6], 2.0f);

  Catalogue b;  // the same items, their rows trained further
  b.rows[0] = 11.0f;
  fill(b);
  EXPECT_EQ(cache.searches(), 1);
  EXPECT_FLOAT_EQ(b.rows[6], (11.0f + 3.0f) / 2.0f);  // the mean of the current rows

  Catalogue c;  // item 2 untrained now
  c.unseen[2] = 1;
  c.rows[4] = c.rows[5] = 0.0f;
  fill(c);
  EXPECT_EQ(cache.searches(), 2);
  EXPECT_FLOAT_EQ(c.rows[4], 2.0f);

  Catalogue d;  // item 3's text re-encoded: it now reads like item 2
  d.text[6] = 0.1f;
  d.text[7] = 1.0f;
  fill(d);
  EXPECT_EQ(cache.searches(), 3);
  Catalogue fresh;
  fresh.text = d.text;
  fill_untrained_rows_from_text_neighbors(fresh.text.data(), 2, 5, 2, fresh.unseen, 2,
                                          fresh.rows.data());
  EXPECT_EQ(d.rows, fresh.rows);
}

TEST(NeighborRows, AConfigWithNoiseRowsIsRefusedButTheAblationsAreNot) {
  ModelConfig config;
  config.text_dim = 8;
  config.unseen_items = UnseenItems::kZero;
  config.unseen_item_neighbors = -1;
  EXPECT_THROW(validate(config), Error);
  config.unseen_item_neighbors = 10;
  EXPECT_NO_THROW(validate(config));
  config.unseen_items = UnseenItems::kNoise;  // an untrained row cannot be told apart
  EXPECT_THROW(validate(config), Error);
  // The ablations: no text side (CF-only) or no id rows (text-only), and the
  // key is ignored.
  config.unseen_items = UnseenItems::kZero;
  config.use_text = config.use_text_score = false;
  EXPECT_NO_THROW(validate(config));
  config.use_text = config.use_text_score = true;
  config.use_id = false;
  EXPECT_NO_THROW(validate(config));
}

}  // namespace
}  // namespace hybrec::trainer

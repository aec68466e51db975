// model.new_item_boost in serving: a run trained with unseen_items = zero and
// a boost is served with the boost in its scoring space, so the recommender
// ranks as evaluation does (HybridModel::score_items with the untrained
// rows flagged), reports the boost as its own part of each score, and gives
// it to the items without a trained row and to no other. And
// model.unseen_item_neighbors: the served item vectors of untrained items are
// built from their text neighbours' rows, as evaluation builds them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "serving/served_run.h"
#include "small_run.h"
#include "testing/temp_dir.h"
#include "trainer/eval/snapshot_rows.h"
#include "trainer/model/id_tables.h"
#include "trainer/model/neighbor_rows.h"

namespace hybrec::serving {
namespace {

constexpr float kBoost = 40.0f;  // above any old item's score: new items fill the top

// Every item row of a run as its snapshot stores them, by item id, with the
// untrained ones flagged: the evaluation's view, read apart from serving.
struct StoredItems {
  std::vector<int64_t> ids;
  std::vector<float> rows;
  std::vector<uint8_t> unseen;
  int64_t untrained = 0;
};

StoredItems stored_items(trainer::SnapshotRows& rows, int64_t n, int64_t d) {
  StoredItems s;
  s.ids.resize(static_cast<std::size_t>(n));
  for (int64_t j = 0; j < n; ++j) s.ids[j] = j;
  s.rows.resize(static_cast<std::size_t>(n * d));
  rows.fetcher()(trainer::kItemTable, s.ids.data(), n, s.rows.data());
  s.unseen = trainer::untrained_rows(s.rows.data(), n, d);
  s.untrained = std::count(s.unseen.begin(), s.unseen.end(), uint8_t{1});
  return s;
}

TEST(ServingNewItemBoost, RanksAsEvaluationAndBoostsOnlyUntrainedItems) {
  hybrec::testing::TempDir dir("hybrec-boost-test");
  const std::string run = testing::train_small_run(
      HYBREC_BIN, dir.path(),
      "--set model.unseen_items=zero --set model.new_item_boost=" + std::to_string(kBoost));
  ServeOptions options;
  options.run = run;
  options.refresh_s = 0;
  ServedRun served(options);
  const std::shared_ptr<const ModelSnapshot> s = served.recommender().snapshot();
  ASSERT_TRUE(s->boosts_new_items());
  const trainer::HybridModel& m = *s->model;
  const int64_t d = m.config().dim, L = m.config().history_len, n = s->num_items;

  // The evaluation's view: every item row from the run's snapshot, the
  // untrained ones flagged, and the model's own scores for user 3.
  const trainer::TrainedRun loaded = trainer::load_trained_run(run, {});
  trainer::SnapshotRows rows(loaded.state.ps_dir, loaded.state.ps_run, loaded.state.ps_version);
  const StoredItems stored = stored_items(rows, n, d);
  const std::vector<int64_t>& ids = stored.ids;
  const std::vector<uint8_t>& unseen = stored.unseen;
  const int64_t untrained = stored.untrained;
  ASSERT_GE(untrained, 10) << "the small run needs cold items for this test";
  ASSERT_LT(untrained, n);

  const int64_t user = 3;
  const std::vector<int64_t> items = served.histories().items(user);
  std::vector<int64_t> hist(static_cast<std::size_t>(L), -1);
  const int64_t take = std::min<int64_t>(L, static_cast<int64_t>(items.size()));
  std::copy(items.end() - take, items.end(), hist.end() - take);
  std::vector<float> user_row(static_cast<std::size_t>(d));
  rows.fetcher()(trainer::kUserTable, &user, 1, user_row.data());
  std::vector<float> state(static_cast<std::size_t>(d)), query(static_cast<std::size_t>(s->text_dim));
  m.user_states(s->params.data(), 1, user_row.data(), hist.data(), s->item_vecs.data(),
                s->text_emb.data(), state.data(), query.data());
  std::vector<float> scores(static_cast<std::size_t>(n));
  m.score_items(s->params.data(), 1, state.data(), query.data(), n, s->item_vecs.data(),
                s->text_emb.data(), unseen.data(), scores.data());

  RecommendRequest r;
  r.user = user;
  r.k = 20;
  r.exclude_seen = false;
  const RecommendReply reply = served.recommender().recommend({r})[0];
  ASSERT_EQ(reply.items.size(), 20u);
  std::vector<int64_t> want(ids);
  std::stable_sort(want.begin(), want.end(), [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  int64_t boosted = 0;
  for (std::size_t i = 0; i < reply.items.size(); ++i) {
    const ScoredItem& got = reply.items[i];
    EXPECT_EQ(got.item, want[i]) << "rank " << i;
    EXPECT_NEAR(got.score, scores[got.item], 1e-4) << "item " << got.item;
    EXPECT_NEAR(got.cf + got.text + got.new_item, got.score, 1e-4) << "item " << got.item;
    EXPECT_FLOAT_EQ(got.new_item, unseen[got.item] != 0 ? kBoost : 0.0f) << "item " << got.item;
    boosted += unseen[got.item];
  }
  // The boost outweighs every trained item: the top min(k, untrained) are new.
  EXPECT_EQ(boosted, std::min<int64_t>(20, untrained));
}

TEST(ServingNewItemBoost, UntrainedItemsTakeTheirTextNeighboursRowsAsInEvaluation) {
  hybrec::testing::TempDir dir("hybrec-neighbors-test");
  const std::string run = testing::train_small_run(
      HYBREC_BIN, dir.path(), "--set model.unseen_items=zero --set model.unseen_item_neighbors=2");
  ServeOptions options;
  options.run = run;
  options.refresh_s = 0;
  ServedRun served(options);
  const std::shared_ptr<const ModelSnapshot> s = served.recommender().snapshot();
  const trainer::HybridModel& m = *s->model;
  const int64_t d = m.config().dim, n = s->num_items;
  ASSERT_EQ(m.config().unseen_item_neighbors, 2);

  // The rows as stored, the untrained ones flagged, then filled here by the
  // neighbour search on its own (not through the serving snapshot).
  const trainer::TrainedRun loaded = trainer::load_trained_run(run, {});
  trainer::SnapshotRows rows(loaded.state.ps_dir, loaded.state.ps_run, loaded.state.ps_version);
  const StoredItems stored = stored_items(rows, n, d);
  const std::vector<int64_t>& ids = stored.ids;
  const std::vector<uint8_t>& unseen = stored.unseen;
  ASSERT_GE(stored.untrained, 10) << "the small run needs cold items for this test";
  std::vector<float> filled(stored.rows);
  trainer::fill_untrained_rows_from_text_neighbors(s->text_emb.data(), s->text_dim, n, d, unseen, 2,
                                                   filled.data());
  std::vector<float> want(static_cast<std::size_t>(n * d)), zero_rows(want.size());
  m.item_vectors(s->params.data(), n, ids.data(), filled.data(), s->text_emb.data(), unseen.data(),
                 want.data());
  m.item_vectors(s->params.data(), n, ids.data(), stored.rows.data(), s->text_emb.data(),
                 unseen.data(), zero_rows.data());

  int64_t moved = 0;
  for (int64_t j = 0; j < n; ++j) {
    float diff = 0.0f;
    for (int64_t c = 0; c < d; ++c) {
      const std::size_t at = static_cast<std::size_t>(j * d + c);
      EXPECT_NEAR(s->item_vecs[at], want[at], 1e-5f) << "item " << j << " coordinate " << c;
      diff = std::max(diff, std::fabs(want[at] - zero_rows[at]));
    }
    // Trained items keep their own rows; an untrained one moves off its
    // text-only vector.
    if (unseen[j] == 0) {
      EXPECT_EQ(diff, 0.0f) << "trained item " << j;
    }
    moved += unseen[j] != 0 && diff > 0.0f;
  }
  EXPECT_EQ(moved, stored.untrained);
}

}  // namespace
}  // namespace hybrec::serving

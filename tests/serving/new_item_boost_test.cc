// model.new_item_boost in serving: a run trained with unseen_items = zero and
// a boost is served with the boost in its scoring space, so the recommender
// ranks as evaluation does (HybridModel::score_items with the untrained
// rows flagged), reports the boost as its own part of each score, and gives
// it to the items without a trained row and to no other.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "serving/served_run.h"
#include "small_run.h"
#include "testing/temp_dir.h"
#include "trainer/eval/snapshot_rows.h"
#include "trainer/model/id_tables.h"

namespace hybrec::serving {
namespace {

constexpr float kBoost = 40.0f;  // above any old item's score: new items fill the top

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
  std::vector<int64_t> ids(static_cast<std::size_t>(n));
  for (int64_t j = 0; j < n; ++j) ids[j] = j;
  std::vector<float> item_rows(static_cast<std::size_t>(n * d));
  rows.fetcher()(trainer::kItemTable, ids.data(), n, item_rows.data());
  const std::vector<uint8_t> unseen = trainer::untrained_rows(item_rows.data(), n, d);
  const int64_t untrained = std::count(unseen.begin(), unseen.end(), uint8_t{1});
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

}  // namespace
}  // namespace hybrec::serving

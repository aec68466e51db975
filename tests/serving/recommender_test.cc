// Serving a small trained run: the recommender's answers are the model's own
// full-ranking scores (HybridModel::user_states and score_items, as `hybrec
// eval` computes them), split into CF and text parts that add up; new users,
// sessions and query text; bad requests; item-matrix swaps under load.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <numeric>
#include <set>
#include <thread>

#include "serving/request_batcher.h"
#include "serving/served_run.h"
#include "small_run.h"
#include "testing/command.h"
#include "testing/temp_dir.h"
#include "trainer/eval/snapshot_rows.h"
#include "trainer/model/id_tables.h"

namespace hybrec::serving {
namespace {

const std::string kBin = HYBREC_BIN;

class Serving : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new hybrec::testing::TempDir("hybrec-serving-test");
    ASSERT_EQ(testing::train_small_run(kBin, dir_->path()), run());
    ServeOptions options;
    options.run = run();
    options.refresh_s = 0;
    served_ = new ServedRun(options);
  }
  static void TearDownTestSuite() {
    delete served_;
    delete dir_;
  }
  static std::string run() { return *dir_ / "run"; }

  // The model's own scores of every item for one history and user row
  // (what evaluation ranks with).
  static std::vector<float> model_scores(int64_t user, const std::vector<int64_t>& items) {
    const std::shared_ptr<const ModelSnapshot> s = served_->recommender().snapshot();
    const trainer::HybridModel& m = *s->model;
    const int64_t d = m.config().dim, L = m.config().history_len, t = s->text_dim;
    std::vector<int64_t> hist(static_cast<std::size_t>(L), -1);
    const int64_t take = std::min<int64_t>(L, static_cast<int64_t>(items.size()));
    std::copy(items.end() - take, items.end(), hist.end() - take);
    std::vector<float> row(static_cast<std::size_t>(d), 0.0f);
    if (user >= 0) {
      const trainer::TrainedRun loaded = trainer::load_trained_run(run(), {});
      trainer::SnapshotRows rows(loaded.state.ps_dir, loaded.state.ps_run,
                                 loaded.state.ps_version);
      rows.fetcher()(trainer::kUserTable, &user, 1, row.data());
    }
    std::vector<float> state(static_cast<std::size_t>(d)), query(static_cast<std::size_t>(t));
    m.user_states(s->params.data(), 1, row.data(), hist.data(), s->item_vecs.data(),
                  s->text_emb.data(), state.data(), query.data());
    std::vector<float> scores(static_cast<std::size_t>(s->num_items));
    m.score_items(s->params.data(), 1, state.data(), query.data(), s->num_items,
                  s->item_vecs.data(), s->text_emb.data(), nullptr, scores.data());
    return scores;
  }

  // Item ids by descending score, lower id first on ties, skipping `skip`.
  static std::vector<int64_t> ranking(const std::vector<float>& scores,
                                      const std::set<int64_t>& skip, int64_t k) {
    std::vector<int64_t> ids;
    for (int64_t j = 0; j < static_cast<int64_t>(scores.size()); ++j) {
      if (skip.count(j) == 0) ids.push_back(j);
    }
    std::stable_sort(ids.begin(), ids.end(),
                     [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
    ids.resize(static_cast<std::size_t>(std::min<int64_t>(k, static_cast<int64_t>(ids.size()))));
    return ids;
  }

  static void expect_matches(const RecommendReply& reply, const std::vector<float>& scores,
                             const std::set<int64_t>& skip, int64_t k) {
    const std::vector<int64_t> want = ranking(scores, skip, k);
    ASSERT_EQ(reply.items.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      const ScoredItem& got = reply.items[i];
      EXPECT_EQ(got.item, want[i]) << "rank " << i;
      EXPECT_NEAR(got.score, scores[got.item], 1e-4) << "item " << got.item;
      EXPECT_NEAR(got.cf + got.text, got.score, 1e-4) << "item " << got.item;
    }
  }

  static hybrec::testing::TempDir* dir_;
  static ServedRun* served_;
};

hybrec::testing::TempDir* Serving::dir_ = nullptr;
ServedRun* Serving::served_ = nullptr;

TEST_F(Serving, AKnownUserGetsTheModelsOwnRanking) {
  for (const int64_t user : {0, 7, 123}) {
    RecommendRequest r;
    r.user = user;
    r.k = 10;
    r.exclude_seen = false;
    const RecommendReply reply = served_->recommender().recommend({r})[0];
    EXPECT_FALSE(reply.new_user);
    expect_matches(reply, model_scores(user, served_->histories().items(user)), {}, 10);
  }
}

TEST_F(Serving, ExcludeSeenDropsEveryItemOfTheUsersHistoryAndTheFilter) {
  RecommendRequest r;
  r.user = 5;
  r.k = 20;
  r.exclude_items = {0, 1, 2};
  const std::vector<int64_t> seen = served_->histories().items(5);
  ASSERT_FALSE(seen.empty());
  std::set<int64_t> skip(seen.begin(), seen.end());
  skip.insert({0, 1, 2});
  const RecommendReply reply = served_->recommender().recommend({r})[0];
  for (const ScoredItem& item : reply.items) EXPECT_EQ(skip.count(item.item), 0u) << item.item;
  expect_matches(reply, model_scores(5, seen), skip, 20);
}

TEST_F(Serving, AnUnknownUserIsANewUserScoredFromTheSessionAlone) {
  RecommendRequest r;
  r.user = 1000000;  // never seen
  r.recent_items = {3, 17, 42};
  r.k = 10;
  r.exclude_seen = false;
  const RecommendReply reply = served_->recommender().recommend({r})[0];
  EXPECT_TRUE(reply.new_user);
  expect_matches(reply, model_scores(-1, r.recent_items), {}, 10);
}

TEST_F(Serving, ANewUserWithNothingKnownGetsTheModelsColdStartList) {
  RecommendRequest r;  // no account, no session, no query
  const RecommendReply reply = served_->recommender().recommend({r})[0];
  EXPECT_TRUE(reply.new_user);
  ASSERT_EQ(reply.items.size(), 10u);
  for (const ScoredItem& item : reply.items) EXPECT_TRUE(std::isfinite(item.score));
  expect_matches(reply, model_scores(-1, {}), {}, 10);
}

TEST_F(Serving, ABatchAnswersEachRequestAsIfAlone) {
  std::vector<RecommendRequest> batch(3);
  batch[0].user = 1;
  batch[1].user = 2;
  batch[1].k = 5;
  batch[2].recent_items = {9};
  const std::vector<RecommendReply> together = served_->recommender().recommend(batch);
  ASSERT_EQ(together.size(), 3u);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const RecommendReply alone = served_->recommender().recommend({batch[i]})[0];
    ASSERT_EQ(together[i].items.size(), alone.items.size());
    for (std::size_t j = 0; j < alone.items.size(); ++j) {
      EXPECT_EQ(together[i].items[j].item, alone.items[j].item);
      EXPECT_NEAR(together[i].items[j].score, alone.items[j].score, 1e-5);
    }
  }
}

TEST_F(Serving, QueryTextMovesItsItemsUpThroughTheTextPart) {
  // An item's own text as the query: its text part is the largest any item
  // can get (cosine 1 with the encoded query), and it ranks above where it
  // ranks without the query.
  const trainer::Dataset& data = served_->data();
  int64_t target = -1;
  for (int64_t j = 0; j < data.num_items && target < 0; ++j) {
    if (!data.item_text[j].empty()) target = j;
  }
  ASSERT_GE(target, 0);
  RecommendRequest plain;
  plain.recent_items = {50, 60};
  plain.k = data.num_items;
  plain.exclude_seen = false;
  RecommendRequest typed = plain;
  typed.query = data.item_text[target];
  const auto replies = served_->recommender().recommend({plain, typed});
  const auto rank_of = [&](const RecommendReply& reply) {
    for (std::size_t i = 0; i < reply.items.size(); ++i) {
      if (reply.items[i].item == target) return static_cast<int64_t>(i);
    }
    return int64_t{-1};
  };
  ASSERT_GE(rank_of(replies[0]), 0);
  ASSERT_GE(rank_of(replies[1]), 0);
  EXPECT_LT(rank_of(replies[1]), rank_of(replies[0]));
  float best_text = -1e9f;
  for (const ScoredItem& item : replies[1].items) best_text = std::max(best_text, item.text);
  EXPECT_FLOAT_EQ(replies[1].items[rank_of(replies[1])].text, best_text);
}

TEST_F(Serving, BadRequestsNameTheProblem) {
  const auto expect_bad = [&](const RecommendRequest& r, const std::string& words) {
    try {
      served_->recommender().recommend({r});
      ADD_FAILURE() << "accepted: " << words;
    } catch (const BadRequest& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  RecommendRequest r;
  r.user = 1;
  r.k = 0;
  expect_bad(r, "k = 0");
  r.k = 201;
  expect_bad(r, "k = 201");
  r.k = 10;
  r.recent_items = {5, 999};
  expect_bad(r, "recent item 999");
  r.recent_items = {};
  r.exclude_items = {-1};
  expect_bad(r, "excluded item -1");
}

TEST_F(Serving, TheBatcherAnswersConcurrentRequestsAsIfAloneAndKeepsBadOnesApart) {
  RequestBatcher batcher(served_->recommender(), 8, std::chrono::microseconds(2000));
  constexpr int kThreads = 4, kEach = 10;
  std::atomic<int64_t> mismatches{0}, rejected{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kThreads; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < kEach; ++i) {
        RecommendRequest r;
        r.user = c * kEach + i;
        r.k = 5 + i % 3;
        const RecommendReply alone = served_->recommender().recommend({r})[0];
        const RecommendReply batched = batcher.recommend(r);
        if (batched.items.size() != alone.items.size()) ++mismatches;
        for (std::size_t j = 0; j < std::min(batched.items.size(), alone.items.size()); ++j) {
          if (batched.items[j].item != alone.items[j].item) ++mismatches;
        }
        RecommendRequest bad = r;
        bad.recent_items = {100000};
        try {
          batcher.recommend(bad);
        } catch (const BadRequest& e) {
          if (std::string(e.what()).find("recent item 100000") != std::string::npos) ++rejected;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(rejected.load(), kThreads * kEach);
  EXPECT_EQ(batcher.batched_requests(), kThreads * kEach);
  EXPECT_LE(batcher.batches(), kThreads * kEach);
}

TEST_F(Serving, RequestsNeverFailOrWaitAcrossMatrixSwaps) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> answered{0}, failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      RecommendRequest r;
      r.user = c;
      while (!stop) {
        try {
          if (served_->recommender().recommend({r})[0].items.size() == 10) ++answered;
        } catch (...) {
          ++failed;
        }
      }
    });
  }
  const int64_t before = served_->health().snapshot_version;
  for (int i = 0; i < 5; ++i) served_->rebuild();
  stop = true;
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(answered.load(), 0);
  EXPECT_EQ(served_->health().snapshot_version, before + 5);
  EXPECT_EQ(served_->health().rebuilds, 5);
}

}  // namespace
}  // namespace hybrec::serving

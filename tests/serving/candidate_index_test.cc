// Serving through the IVF candidate index (ServeOptions::index = faiss-ivf):
// scanning every list gives exact scoring's answers; scanning one list
// gives items whose scores are the model's own exact scores, never an
// excluded item, k items however many the exclusions remove; and the
// recall printed at build is the share of the exact top 10 that the index
// path returns, recomputed here from the model's own scores.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>

#include "serving/candidates.h"
#include "serving/served_run.h"
#include "testing/command.h"
#include "testing/temp_dir.h"
#include "trainer/eval/snapshot_rows.h"
#include "trainer/model/id_tables.h"

namespace hybrec::serving {
namespace {

using hybrec::testing::run_command;

const std::string kBin = HYBREC_BIN;
constexpr int64_t kItems = 2000;  // default_nlist: 51 lists of about 39 items

class CandidateIndex : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new hybrec::testing::TempDir("hybrec-candidate-index-test");
    const std::string data = *dir_ / "synth.h5";
    auto r = run_command(kBin + " data synth --out " + data + " --users 300 --items " +
                         std::to_string(kItems) + " --events-per-user 15 --seed 5");
    ASSERT_EQ(r.status, 0) << r.output;
    std::ofstream(*dir_ / "train.toml")
        << "[data]\npath = \"" << data << "\"\n"
        << "[train]\nbatch_size = 64\nnegatives = 8\nlog_every_s = 60\nthreads = 1\n"
           "max_steps = 30\neval_every = 30\n";
    r = run_command(kBin + " train " + (*dir_ / "train.toml") + " --out " + run());
    ASSERT_EQ(r.status, 0) << r.output;
    ServeOptions options;
    options.run = run();
    options.refresh_s = 0;
    exact_ = new ServedRun(options);
    options.index.kind = IndexKind::kFaissIvf;
    options.index.nprobe = default_nlist(kItems);
    every_list_ = new ServedRun(options);
    options.index.nprobe = 1;
    ::testing::internal::CaptureStderr();
    one_list_ = new ServedRun(options);
    one_list_stderr_ = ::testing::internal::GetCapturedStderr();
  }
  static void TearDownTestSuite() {
    delete one_list_;
    delete every_list_;
    delete exact_;
    delete dir_;
  }
  static std::string run() { return *dir_ / "run"; }

  // The model's own scores of every item for a known user (HybridModel's
  // user_states and score_items over the user's whole history, as `hybrec
  // eval` computes them).
  static std::vector<float> model_scores(int64_t user) {
    const std::shared_ptr<const ModelSnapshot> s = exact_->recommender().snapshot();
    const trainer::HybridModel& m = *s->model;
    const int64_t d = m.config().dim, L = m.config().history_len, t = s->text_dim;
    const std::vector<int64_t> items = exact_->histories().items(user);
    std::vector<int64_t> hist(static_cast<std::size_t>(L), -1);
    const int64_t take = std::min<int64_t>(L, static_cast<int64_t>(items.size()));
    std::copy(items.end() - take, items.end(), hist.end() - take);
    static const trainer::TrainedRun loaded = trainer::load_trained_run(run(), {});
    static trainer::SnapshotRows rows(loaded.state.ps_dir, loaded.state.ps_run,
                                      loaded.state.ps_version);
    std::vector<float> row(static_cast<std::size_t>(d));
    rows.fetcher()(trainer::kUserTable, &user, 1, row.data());
    std::vector<float> state(static_cast<std::size_t>(d)), query(static_cast<std::size_t>(t));
    m.user_states(s->params.data(), 1, row.data(), hist.data(), s->item_vecs.data(),
                  s->text_emb.data(), state.data(), query.data());
    std::vector<float> scores(static_cast<std::size_t>(s->num_items));
    m.score_items(s->params.data(), 1, state.data(), query.data(), s->num_items,
                  s->item_vecs.data(), s->text_emb.data(), nullptr, scores.data());
    return scores;
  }

  // Item ids by descending score, lower id first on ties.
  static std::vector<int64_t> ranking(const std::vector<float>& scores, int64_t k) {
    std::vector<int64_t> ids(scores.size());
    for (std::size_t j = 0; j < ids.size(); ++j) ids[j] = static_cast<int64_t>(j);
    std::stable_sort(ids.begin(), ids.end(),
                     [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
    ids.resize(static_cast<std::size_t>(k));
    return ids;
  }

  static RecommendReply ask(const ServedRun& served, RecommendRequest r) {
    return served.recommender().recommend({r})[0];
  }

  static hybrec::testing::TempDir* dir_;
  static ServedRun *exact_, *every_list_, *one_list_;
  static std::string one_list_stderr_;  // what building one_list_ printed
};

hybrec::testing::TempDir* CandidateIndex::dir_ = nullptr;
ServedRun* CandidateIndex::exact_ = nullptr;
ServedRun* CandidateIndex::every_list_ = nullptr;
ServedRun* CandidateIndex::one_list_ = nullptr;
std::string CandidateIndex::one_list_stderr_;

TEST_F(CandidateIndex, TheDefaultIsExactScoringWithoutAnIndex) {
  EXPECT_EQ(exact_->recommender().snapshot()->index, nullptr);
  EXPECT_EQ(exact_->health().index.kind, "exact");
  EXPECT_EQ(exact_->health().index.recall_k, 0);
  const IndexReport every = every_list_->health().index;
  EXPECT_EQ(every.kind, "faiss-ivf");
  EXPECT_EQ(every.nlist, default_nlist(kItems));
  EXPECT_EQ(every.nprobe, every.nlist);
  EXPECT_EQ(one_list_->health().index.nprobe, 1);
}

TEST_F(CandidateIndex, ScanningEveryListGivesExactScoringsAnswers) {
  EXPECT_DOUBLE_EQ(every_list_->health().index.recall, 1.0);
  for (const int64_t user : {0, 3, 42, 150, 299}) {
    for (const bool exclude_seen : {false, true}) {
      RecommendRequest r;
      r.user = user;
      r.k = 20;
      r.exclude_seen = exclude_seen;
      r.exclude_items = {5, 6, 7};
      const RecommendReply want = ask(*exact_, r), got = ask(*every_list_, r);
      ASSERT_EQ(got.items.size(), want.items.size());
      for (std::size_t i = 0; i < want.items.size(); ++i) {
        EXPECT_EQ(got.items[i].item, want.items[i].item) << "user " << user << " rank " << i;
        EXPECT_NEAR(got.items[i].score, want.items[i].score, 1e-5);
        EXPECT_NEAR(got.items[i].cf, want.items[i].cf, 1e-5);
        EXPECT_NEAR(got.items[i].text, want.items[i].text, 1e-5);
      }
    }
  }
}

TEST_F(CandidateIndex, OneListGivesExactlyScoredItemsAndHonoursExclusions) {
  for (const int64_t user : {1, 8, 77, 200}) {
    const std::vector<float> scores = model_scores(user);
    RecommendRequest r;
    r.user = user;
    r.k = 10;
    // The exact top 5 excluded by the filter: the index must not return them
    // even where its lists hold them.
    const std::vector<int64_t> top = ranking(scores, 5);
    r.exclude_items.assign(top.begin(), top.end());
    const std::vector<int64_t> seen = one_list_->histories().items(user);
    std::set<int64_t> skip(seen.begin(), seen.end());
    skip.insert(top.begin(), top.end());
    const RecommendReply reply = ask(*one_list_, r);
    ASSERT_EQ(reply.items.size(), 10u) << "user " << user;
    for (std::size_t i = 0; i < reply.items.size(); ++i) {
      const ScoredItem& got = reply.items[i];
      EXPECT_EQ(skip.count(got.item), 0u) << "excluded item " << got.item << " returned";
      EXPECT_NEAR(got.score, scores[got.item], 1e-4) << "item " << got.item;
      EXPECT_NEAR(got.cf + got.text, got.score, 1e-4) << "item " << got.item;
      if (i > 0) {
        EXPECT_GE(reply.items[i - 1].score, got.score) << "rank " << i;
      }
    }
  }
}

TEST_F(CandidateIndex, ExclusionsBeyondTheCandidatesStillLeaveKItems) {
  // 1,990 of 2,000 items excluded: far more than the 100 candidates of the
  // first search and than the one list scanned holds, so the search must
  // widen until it has found the 10 items left, which are then exactly the
  // answer.
  const int64_t user = 12;
  const std::vector<int64_t> left = {3, 250, 499, 731, 1000, 1234, 1500, 1777, 1901, 1999};
  RecommendRequest r;
  r.user = user;
  r.k = 10;
  r.exclude_seen = false;
  for (int64_t j = 0; j < kItems; ++j) {
    if (std::find(left.begin(), left.end(), j) == left.end()) r.exclude_items.push_back(j);
  }
  const RecommendReply reply = ask(*one_list_, r);
  const std::vector<float> scores = model_scores(user);
  std::vector<int64_t> want = left;
  std::stable_sort(want.begin(), want.end(),
                   [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  ASSERT_EQ(reply.items.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(reply.items[i].item, want[i]);
  // Fewer items left than k: the reply holds the ones there are.
  r.exclude_items.push_back(left[0]);
  r.exclude_items.push_back(left[1]);
  EXPECT_EQ(ask(*one_list_, r).items.size(), 8u);
}

TEST_F(CandidateIndex, ThePrintedRecallIsTheShareOfTheExactTopTenReturned) {
  const IndexReport report = one_list_->health().index;
  ASSERT_EQ(report.recall_k, 10);
  ASSERT_EQ(report.recall_users.size(), 200u);  // 200 of the 300 users, all with events
  EXPECT_EQ(std::set<int64_t>(report.recall_users.begin(), report.recall_users.end()).size(), 200u);
  int64_t hits = 0;
  for (const int64_t user : report.recall_users) {
    const std::vector<int64_t> want = ranking(model_scores(user), 10);
    RecommendRequest r;
    r.user = user;
    r.k = 10;
    r.exclude_seen = false;
    for (const ScoredItem& item : ask(*one_list_, r).items) {
      hits += std::count(want.begin(), want.end(), item.item);
    }
  }
  const double recall = static_cast<double>(hits) / 2000.0;
  EXPECT_NEAR(report.recall, recall, 1e-12);
  EXPECT_LT(recall, 1.0) << "one list of 51 should miss some of the exact top 10";
  char printed[64];
  std::snprintf(printed, sizeof printed, "recall@10 %.4f against exact scoring on 200 users",
                recall);
  EXPECT_NE(one_list_stderr_.find(printed), std::string::npos)
      << "looked for \"" << printed << "\" in:\n"
      << one_list_stderr_;
}

}  // namespace
}  // namespace hybrec::serving

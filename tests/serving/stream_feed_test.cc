// Serving fed by a live event stream (the embedded file log): an event
// reaches the user's next answer, and an item first seen on the stream joins
// the catalogue with its text, recommendable before any training saw it.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "serving/served_run.h"
#include "small_run.h"
#include "testing/temp_dir.h"
#include "trainer/stream/event_source.h"

namespace hybrec::serving {
namespace {

const std::string kBin = HYBREC_BIN;

// Polls `done` every 20 ms for up to 30 s (a deadline for a condition, not a
// performance target).
template <typename Done>
bool eventually(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

class StreamFed : public ::testing::Test {
 protected:
  void SetUp() override {
    run_ = testing::train_small_run(kBin, dir_.path());
    log_ = dir_ / "events.jsonl";
    sink_ = trainer::open_event_sink("file:" + log_);
    ServeOptions options;
    options.run = run_;
    options.refresh_s = 0;
    options.stream = "file:" + log_;
    served_ = std::make_unique<ServedRun>(options);
  }

  bool returns(const RecommendRequest& r, int64_t item) {
    const RecommendReply reply = served_->recommender().recommend({r})[0];
    for (const ScoredItem& s : reply.items) {
      if (s.item == item) return true;
    }
    return false;
  }

  hybrec::testing::TempDir dir_{"hybrec-stream-feed-test"};
  std::string run_, log_;
  std::unique_ptr<trainer::EventSink> sink_;
  std::unique_ptr<ServedRun> served_;
};

TEST_F(StreamFed, AnEventReachesTheUsersNextAnswer) {
  RecommendRequest r;
  r.user = 7;
  r.k = 1;
  const int64_t top = served_->recommender().recommend({r})[0].items.at(0).item;
  trainer::StreamEvent e;
  e.user = 7;
  e.item = top;
  sink_->publish(e);
  // Seen now: the item leaves the user's list (exclude_seen) and joins the history.
  ASSERT_TRUE(eventually([&] { return !returns(r, top); }));
  EXPECT_EQ(served_->histories().items(7).back(), top);
  EXPECT_EQ(served_->health().streamed_events, 1);

  // A user nobody knew is no longer new once an event names them.
  r.user = 5000;
  ASSERT_TRUE(served_->recommender().recommend({r})[0].new_user);
  e.user = 5000;
  e.item = 3;
  sink_->publish(e);
  ASSERT_TRUE(eventually([&] { return !served_->recommender().recommend({r})[0].new_user; }));
}

TEST_F(StreamFed, ANewItemJoinsTheCatalogueWithItsTextBeforeAnyTraining) {
  const std::string text = served_->data().item_text.at(11);
  ASSERT_FALSE(text.empty());
  trainer::StreamEvent e;
  e.user = 1;
  e.item = 450;  // beyond the dataset's 200 items
  e.item_text = text;
  sink_->publish(e);
  ASSERT_TRUE(eventually([&] { return served_->recommender().snapshot()->num_items == 201; }));
  EXPECT_EQ(served_->title(450), text);
  EXPECT_EQ(served_->health().new_items, 1);

  // Its own text as the query: the new item's text part is the best any
  // item gets (the same words, encoded by the same encoder as the dataset's).
  RecommendRequest q;
  q.query = text;
  q.k = 201;
  q.exclude_seen = false;
  const RecommendReply reply = served_->recommender().recommend({q})[0];
  float best_text = -1e9f, new_text = -2e9f;
  for (const ScoredItem& s : reply.items) {
    best_text = std::max(best_text, s.text);
    if (s.item == 450) new_text = s.text;
  }
  EXPECT_NEAR(new_text, best_text, 1e-5);
  // And a session may name it.
  RecommendRequest session;
  session.recent_items = {450};
  EXPECT_NO_THROW(served_->recommender().recommend({session}));
}

TEST_F(StreamFed, AMalformedEventIsReportedAndServingGoesOn) {
  { std::ofstream(log_, std::ios::app) << "{\"user\": \"x\"}\n"; }
  ASSERT_TRUE(eventually([&] { return !served_->health().stream_error.empty(); }));
  EXPECT_NE(served_->health().stream_error.find("events.jsonl"), std::string::npos)
      << served_->health().stream_error;
  RecommendRequest r;
  r.user = 3;
  EXPECT_EQ(served_->recommender().recommend({r})[0].items.size(), 10u);
}

}  // namespace
}  // namespace hybrec::serving

// `hybrec serve --ps`: a run trained against a real `hybrec ps` shard is
// served from that shard's live rows, with the same answers as the library
// reading the same shard; when the shard goes away, rebuilds fail, /health
// and /metrics say so, requests that need a user row are 500 naming the
// shard, and everything else is still answered from the last item matrix.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "ps/ps_process.h"
#include "serving/http_client.h"
#include "serving/serve_process.h"
#include "serving/small_run.h"
#include "serving/served_run.h"
#include "testing/temp_dir.h"

namespace hybrec::serving {
namespace {

using testing::get_json;
using testing::metric;
using testing::ServeProcess;

class LiveRows : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new hybrec::testing::TempDir("hybrec-serving-live-test");
    shard_ = new ps::testing::PsProcess({"--port", "0", "--checkpoint-dir", *dir_ / "ps"});
    run_ = new std::string(testing::train_small_run(
        HYBREC_BIN, dir_->path(), "--ps " + shard_->address() + " --ps-dir " + (*dir_ / "ps")));
  }
  static void TearDownTestSuite() {
    delete run_;
    delete shard_;
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(shard_->running()); }

  static hybrec::testing::TempDir* dir_;
  static ps::testing::PsProcess* shard_;
  static std::string* run_;
};

hybrec::testing::TempDir* LiveRows::dir_ = nullptr;
ps::testing::PsProcess* LiveRows::shard_ = nullptr;
std::string* LiveRows::run_ = nullptr;

TEST_F(LiveRows, AnswersFromTheServersEqualTheLibrarys) {
  ServeProcess server(
      {"--run", *run_, "--ps", shard_->address(), "--http-port", "0", "--refresh-s", "0"},
      *dir_ / "serve.log");
  ASSERT_TRUE(server.running());
  ServeOptions options;
  options.run = *run_;
  options.ps = ps::parse_endpoints(shard_->address());
  options.refresh_s = 0;
  ServedRun served(options);
  for (const int64_t user : {3, 7, 250}) {
    RecommendRequest r;
    r.user = user;
    r.k = 8;
    const RecommendReply want = served.recommender().recommend({r})[0];
    const auto [status, got] =
        get_json(server.port(), "/recommend", {{"user", std::to_string(user)}, {"k", "8"}});
    ASSERT_EQ(status, 200) << got.dump();
    ASSERT_EQ(got["items"].size(), want.items.size());
    for (std::size_t i = 0; i < want.items.size(); ++i) {
      EXPECT_EQ(got["items"][i]["item"].get<int64_t>(), want.items[i].item) << "user " << user;
      EXPECT_NEAR(got["items"][i]["score"].get<double>(), want.items[i].score, 1e-5);
    }
  }
  const auto [status, health] = get_json(server.port(), "/health");
  ASSERT_EQ(status, 200);
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["rows_from"], "parameter servers " + shard_->address());
  EXPECT_EQ(server.stop(), 0);
}

// Last in this suite: it stops the suite's shard.
TEST_F(LiveRows, WithoutTheServersItKeepsServingTheLastMatrixAndSaysSo) {
  ServeProcess server({"--run", *run_, "--ps", shard_->address(), "--http-port", "0", "--refresh-s",
                       "0.2", "--stale-after-s", "1"},
                      *dir_ / "serve-loss.log");
  ASSERT_TRUE(server.running());
  const auto [before_status, before] = get_json(server.port(), "/recommend", {{"user", "3"}});
  ASSERT_EQ(before_status, 200);
  shard_->signal(SIGKILL);
  shard_->wait();

  // Rebuilds fail (each after the client's bounded retries) and the matrix ages.
  nlohmann::json health;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    health = get_json(server.port(), "/health").second;
    if (health["rebuild_failures"].get<int64_t>() > 0 && health["status"] == "stale") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(health["status"], "stale") << health.dump();
  EXPECT_GT(health["rebuild_failures"].get<int64_t>(), 0) << health.dump();
  EXPECT_GT(health["ps_errors"].get<int64_t>(), 0) << health.dump();
  EXPECT_NE(health["last_error"].get<std::string>().find(shard_->address()), std::string::npos)
      << health.dump();

  // A known user's row lives on the lost shard: the row last pulled answers,
  // so the list is the one before the loss (same matrix, same row).
  const auto [user_status, user_reply] = get_json(server.port(), "/recommend", {{"user", "3"}});
  ASSERT_EQ(user_status, 200) << user_reply.dump();
  EXPECT_EQ(user_reply["items"], before["items"]);
  // A session without an account needs no row: the last matrix answers it.
  const auto [session_status, session_reply] =
      get_json(server.port(), "/recommend", {{"items", "3,17"}, {"k", "4"}});
  ASSERT_EQ(session_status, 200) << session_reply.dump();
  EXPECT_EQ(session_reply["items"].size(), 4u);
  EXPECT_EQ(session_reply["snapshot_version"], health["snapshot_version"]);

  const std::string text = testing::get_metrics(server.port());
  EXPECT_GT(metric(text, "hybrec_serve_item_matrix_rebuild_failures_total"), 0) << text;
  EXPECT_GT(metric(text, "hybrec_serve_ps_errors_total"), 0) << text;
  EXPECT_GE(metric(text, "hybrec_serve_stale_user_rows_total"), 1) << text;
  EXPECT_EQ(server.stop(), 0);
}

}  // namespace
}  // namespace hybrec::serving

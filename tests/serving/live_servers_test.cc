// Serving over live parameter servers (`hybrec ps` processes): the answers
// equal those from the run's snapshot files when the servers hold the same
// rows; with the servers killed, requests are still answered (from the last
// item matrix and the user rows last pulled) and health says so.
#include <gtest/gtest.h>

#include <signal.h>

#include "ps_process.h"
#include "serving/served_run.h"
#include "small_run.h"
#include "testing/temp_dir.h"

namespace hybrec::serving {
namespace {

const std::string kBin = HYBREC_BIN;

TEST(LiveServers, AnswersEqualTheSnapshotsAndSurviveTheServersGoingDown) {
  hybrec::testing::TempDir dir("hybrec-serving-live-test");
  ps::testing::PsProcess shard0({"--port", "0", "--shard", "0/2", "--checkpoint-dir", dir / "ps"});
  ps::testing::PsProcess shard1({"--port", "0", "--shard", "1/2", "--checkpoint-dir", dir / "ps"});
  ASSERT_TRUE(shard0.running() && shard1.running());
  const std::string servers = shard0.address() + "," + shard1.address();

  testing::train_small_run(kBin, dir.path(), "--ps " + servers + " --ps-dir " + (dir / "ps"));

  ServeOptions from_files;
  from_files.run = dir / "run";
  from_files.refresh_s = 0;
  ServeOptions live = from_files;
  live.ps = ps::parse_endpoints(servers);
  ServedRun files(from_files), served(live);
  EXPECT_NE(served.health().rows_from.find(shard0.address()), std::string::npos);

  std::vector<RecommendRequest> requests(3);
  requests[0].user = 4;
  requests[1].user = 250;
  requests[2].recent_items = {1, 2};
  const auto want = files.recommender().recommend(requests);
  const auto got = served.recommender().recommend(requests);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    ASSERT_EQ(got[i].items.size(), want[i].items.size());
    for (std::size_t j = 0; j < want[i].items.size(); ++j) {
      EXPECT_EQ(got[i].items[j].item, want[i].items[j].item) << "request " << i << " rank " << j;
      EXPECT_NEAR(got[i].items[j].score, want[i].items[j].score, 1e-5);
    }
  }

  shard0.signal(SIGKILL);
  shard1.signal(SIGKILL);
  shard0.wait();
  shard1.wait();
  EXPECT_THROW(served.rebuild(), std::exception);
  const ServeHealth down = served.health();
  EXPECT_EQ(down.rebuild_failures, 1);
  EXPECT_FALSE(down.last_error.empty());
  EXPECT_GT(down.ps_errors, 0);
  // Still answered: the same lists, from the last matrix and remembered rows.
  const auto during = served.recommender().recommend(requests);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    ASSERT_EQ(during[i].items.size(), want[i].items.size());
    for (std::size_t j = 0; j < want[i].items.size(); ++j) {
      EXPECT_EQ(during[i].items[j].item, want[i].items[j].item);
    }
  }
  EXPECT_GT(served.health().stale_user_rows, 0);
}

}  // namespace
}  // namespace hybrec::serving

// `hybrec train` with the row cache (train.cache_rows), the memory plan and
// train.device, one rank with in-process parameter-server shards:
// write-through trains exactly as a run without the cache; write-back loses
// no update at checkpoints, resumes or the end; the refusals; the plan's
// activations against the buffers measured after the first step; CUDA
// asked for where there is none.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "hybrec/kernels/device.h"
#include "parameter_server/store/checkpoint.h"
#include "parameter_server/store/row_store.h"
#include "parameter_server/wire/slicer.h"
#include "run_testing.h"
#include "trainer/loop/train_checkpoint.h"
#include "trainer/model/id_tables.h"

namespace hybrec::trainer {
namespace {

using testing::find_event;
using testing::read_metrics;
using testing::run_command;

const std::string kBin = HYBREC_BIN;
constexpr int64_t kUsers = 800, kItems = 400;

class CacheRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir("hybrec-cache-test");
    const auto r =
        run_command(kBin + " data synth --out " + data() + " --users " + std::to_string(kUsers) +
                    " --items " + std::to_string(kItems) + " --events-per-user 20 --seed 5");
    ASSERT_EQ(r.status, 0) << r.output;
    std::ofstream(config()) << "[data]\npath = \"" << data() << "\"\n"
                            << "[train]\nbatch_size = 64\nnegatives = 8\nlog_every_s = 60\n"
                               "threads = 1\nsync = true\n";
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string data() { return *dir_ / "synth.h5"; }
  static std::string config() { return *dir_ / "train.toml"; }

  static testing::CommandResult train(const std::string& name, const std::string& args) {
    return run_command(kBin + " train " + config() + " --out " + run_dir(name) + " " + args +
                       " 2>&1");
  }
  static std::string run_dir(const std::string& name) { return *dir_ / name; }
  // One MPI job: a server rank and two trainer ranks.
  static testing::CommandResult train_two_ranks(const std::string& name, const std::string& args) {
    const std::string out = run_dir(name);
    return run_command("timeout 300 " + testing::mpirun() + " -np 1 " + kBin +
                       " ps --mpi --port 0 --checkpoint-dir " + out + "/ps : -np 2 " + kBin +
                       " train " + config() + " --out " + out + " " + args + " 2>&1");
  }

  // Every stored row of both tables with its optimizer state, from the
  // in-process shard's snapshot written when the run ended.
  static std::map<std::pair<std::string, int64_t>, std::vector<float>> tables(
      const std::string& name) {
    const ps::RowStore none;
    ps::JumpHashSlicer one(1);
    const ps::LoadedCheckpoint loaded = ps::read_checkpoint(
        run_dir(name) + "/ps", ps::kLatestCheckpoint, ps::ShardId{0, 1}, one, none);
    std::map<std::pair<std::string, int64_t>, std::vector<float>> rows;
    for (const auto& [table, keys] : {std::pair<const char*, int64_t>{kUserTable, kUsers},
                                      std::pair<const char*, int64_t>{kItemTable, kItems}}) {
      const ps::RowTable& t = loaded.store->table(table);
      std::vector<float> slot(static_cast<std::size_t>(t.slot_floats()));
      for (int64_t k = 0; k < keys; ++k) {
        if (t.find(k, slot.data())) rows[{table, k}] = slot;
      }
    }
    return rows;
  }

  static std::vector<float> final_params(const std::string& name) {
    return read_trainer_checkpoint(result_checkpoint(run_dir(name) + "/checkpoints")).params;
  }

  static testing::TempDir* dir_;
};

testing::TempDir* CacheRun::dir_ = nullptr;

const std::string kSteps = "--set train.max_steps=16 --set train.eval_every=8 ";

// The largest |a - b| over two snapshots holding the same keys.
float max_difference(const std::map<std::pair<std::string, int64_t>, std::vector<float>>& a,
                     const std::map<std::pair<std::string, int64_t>, std::vector<float>>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0.0f;
  for (const auto& [key, row] : a) {
    const auto it = b.find(key);
    if (it == b.end()) {
      ADD_FAILURE() << key.first << " " << key.second << " is missing";
      continue;
    }
    for (std::size_t j = 0; j < row.size(); ++j)
      worst = std::max(worst, std::fabs(row[j] - it->second[j]));
  }
  return worst;
}

TEST_F(CacheRun, WriteThroughTrainsBitForBitAsWithoutTheCache) {
  ASSERT_EQ(train("plain", kSteps).status, 0);
  const auto cached = train("through", kSteps + "--set train.cache_rows=150");
  ASSERT_EQ(cached.status, 0) << cached.output;
  EXPECT_EQ(final_params("plain"), final_params("through"));
  const auto plain_rows = tables("plain"), through_rows = tables("through");
  ASSERT_FALSE(plain_rows.empty());
  EXPECT_EQ(plain_rows, through_rows);
  const auto p = read_metrics(run_dir("plain")), c = read_metrics(run_dir("through"));
  EXPECT_EQ(find_event(p, "eval", "test", "warm")["hr@10"].get<double>(),
            find_event(c, "eval", "test", "warm")["hr@10"].get<double>());
  // And the cache was used: a popular user or item is read from it.
  const auto t = find_event(c, "train");
  ASSERT_TRUE(t.contains("cache_hit_rate_item")) << t.dump();
  EXPECT_GT(t["cache_hit_rate_item"].get<double>(), 0.1);
  EXPECT_GT(t["cache_hit_rate_user"].get<double>(), 0.0);
  // The step's breakdown rides along in the same event.
  ASSERT_TRUE(t.contains("step_ms")) << t.dump();
  EXPECT_GT(t["step_ms"]["forward_backward"].get<double>(), 0.0);
  EXPECT_GE(t["step_ms"]["total"].get<double>(), t["step_ms"]["forward_backward"].get<double>());
}

TEST_F(CacheRun, WriteBackLosesNoUpdateAtCheckpointsResumeOrTheEnd) {
  // S far beyond the run: the servers learn the cached rows' updates only
  // from the flushes at validation, checkpoint, eviction and the end.
  const std::string back = "--set train.cache_rows=150 --set train.cache_sync_steps=100000 ";
  ASSERT_EQ(train("plain-wb", kSteps).status, 0);
  const auto whole = train("back", kSteps + back);
  ASSERT_EQ(whole.status, 0) << whole.output;
  // Only the float rounding of the deltas (server = base + (cache - base))
  // separates it from the plain run; a lost update would move a row by a
  // whole Adagrad step (~sparse_lr = 0.05).
  EXPECT_LT(max_difference(tables("plain-wb"), tables("back")), 1e-4f);

  const std::string resumable = kSteps + back + "--set train.checkpoint_every=4 ";
  const auto first = train("back-resumed", resumable + "--stop-after-steps 6");
  ASSERT_EQ(first.status, 0) << first.output;
  const auto second = train("back-resumed", resumable + "--resume " + run_dir("back-resumed"));
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_LT(max_difference(tables("plain-wb"), tables("back-resumed")), 1e-4f);
  const auto a = final_params("plain-wb"), b = final_params("back-resumed");
  ASSERT_EQ(a.size(), b.size());
  float worst = 0.0f;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  EXPECT_LT(worst, 1e-4f);
}

TEST_F(CacheRun, RefusesWhatWouldLoseUpdatesNamingTheKeys) {
  const auto admit =
      train("refused-admit", kSteps + "--set train.cache_rows=10 --set ps.admit_after=2");
  EXPECT_NE(admit.status, 0);
  EXPECT_NE(admit.output.find("ps.admit_after"), std::string::npos) << admit.output;
  // Write-through on two trainer ranks: each cached copy would miss the
  // other rank's updates.
  const auto two = train_two_ranks("refused-two", kSteps + "--set train.cache_rows=10");
  EXPECT_NE(two.status, 0);
  EXPECT_NE(two.output.find("train.cache_sync_steps"), std::string::npos) << two.output;
}

// The MPMD job with write-back: the ranks meet at every sync (no rank waits
// alone), a sync run is reproducible, and the model is as good as without
// the cache. (That two ranks'
// deltas to one row add is RowCache.TwoRanksDeltasToOneRowBothLand.)
TEST_F(CacheRun, TwoRanksWriteBackTrainAsWellAsWithoutTheCache) {
  const std::string args = kSteps + "--set train.cache_rows=150 --set train.cache_sync_steps=4";
  const auto r = train_two_ranks("two-back", args);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto p = train_two_ranks("two-plain", kSteps);
  ASSERT_EQ(p.status, 0) << p.output;
  // Sync mode stays reproducible: the ranks send their deltas in rank order.
  const auto again = train_two_ranks("two-back-again", args);
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(final_params("two-back"), final_params("two-back-again"));
  EXPECT_GT(
      find_event(read_metrics(run_dir("two-back")), "train")["cache_hit_rate_item"].get<double>(),
      0.1);
  const auto hr_back = find_event(read_metrics(run_dir("two-back")), "eval", "test", "warm");
  const auto hr_plain = find_event(read_metrics(run_dir("two-plain")), "eval", "test", "warm");
  EXPECT_NEAR(hr_back["hr@10"].get<double>(), hr_plain["hr@10"].get<double>(), 0.03);
}

TEST_F(CacheRun, AConfigThatCannotFitFailsBeforeTrainingWithThePlan) {
  const auto r = train("too-big", kSteps + "--set train.device_memory_mib=1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("train.device_memory_mib = 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("step activations"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("train.batch_size"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(run_dir("too-big") + "/checkpoints"));
  // A cache too large for the host is refused the same way.
  const auto cache = train("too-big-cache", kSteps + "--set train.cache_rows=2000000000");
  EXPECT_NE(cache.status, 0);
  EXPECT_NE(cache.output.find("row caches"), std::string::npos) << cache.output;
}

TEST_F(CacheRun, PlannedActivationsBoundTheMeasuredOnes) {
  for (const std::string& shape :
       {std::string(""), std::string("--set model.history_len=40 --set model.layers=2 "
                                     "--set train.batch_size=128 --set model.dim=64")}) {
    const auto r =
        train("plan", "--set train.max_steps=2 --set train.eval_every=100 " + shape + " --fresh");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("memory plan"), std::string::npos) << r.output;
    const auto m = find_event(read_metrics(run_dir("plan")), "memory");
    ASSERT_FALSE(m.is_null());
    const double planned = m["planned_activation_bytes"], measured = m["measured_activation_bytes"];
    EXPECT_GT(measured, 0) << shape;
    EXPECT_LE(measured, planned) << shape;
    EXPECT_GT(measured, planned / 8) << shape << ": the estimate is far too loose";
  }
}

TEST_F(CacheRun, CudaWhereThereIsNoneIsRefusedNamingWhyAndWritesNothing) {
  if (kernels::cuda_device_count() > 0) GTEST_SKIP() << "this machine has a GPU";
  const auto r = train("no-gpu", kSteps + "--device cuda");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("train.device = \"cuda\""), std::string::npos) << r.output;
  const bool built = kernels::cuda_compiled();
  EXPECT_NE(r.output.find(built ? "no CUDA device is visible" : "this build has no CUDA backend"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(std::filesystem::exists(run_dir("no-gpu") + "/metrics.jsonl"));
  const auto bad = train("bad-device", kSteps + "--device gpu");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("train.device = 'gpu' is not one of: cpu, cuda"), std::string::npos)
      << bad.output;
}

}  // namespace
}  // namespace hybrec::trainer

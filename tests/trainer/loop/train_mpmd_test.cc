// `hybrec train` ranks with `hybrec ps --mpi` server ranks in one mpirun
// (MPMD): dense parameters stay bit-identical across 2 and 4 trainer ranks,
// sync-mode runs are reproducible, and the job ends with every process gone.
#include <gtest/gtest.h>

#include <fstream>

#include "run_testing.h"

namespace hybrec::trainer {
namespace {

using testing::find_event;
using testing::read_metrics;
using testing::run_command;

const std::string kBin = HYBREC_BIN;

class TrainMpmd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir("hybrec-train-test");
    const auto r = run_command(kBin + " data synth --out " + (*dir_ / "synth.h5") +
                               " --users 800 --items 300 --events-per-user 20 --seed 5");
    ASSERT_EQ(r.status, 0) << r.output;
    std::ofstream(*dir_ / "train.toml")
        << "[data]\npath = \"" << (*dir_ / "synth.h5") << "\"\n"
        << "[train]\nbatch_size = 64\nnegatives = 4\nmax_steps = 24\neval_every = 12\n"
           "log_every_s = 60\nthreads = 1\n[eval]\nmax_users = 200\n";
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::string run(int servers, int trainers, const std::string& name,
                         const std::string& extra = "") {
    const std::string out = *dir_ / name;
    const auto r = run_command(
        "timeout 300 " + testing::mpirun() + " -np " + std::to_string(servers) + " " + kBin +
        " ps --mpi --port 0 --checkpoint-dir " + out + "/ps : -np " + std::to_string(trainers) +
        " " + kBin + " train " + (*dir_ / "train.toml") + " --out " + out + " " + extra);
    EXPECT_EQ(r.status, 0) << r.output;
    return out;
  }

  static testing::TempDir* dir_;
};

testing::TempDir* TrainMpmd::dir_ = nullptr;

TEST_F(TrainMpmd, TwoTrainerRanksKeepIdenticalDenseParameters) {
  const auto events = read_metrics(run(2, 2, "np2"));
  const auto replicas = find_event(events, "replicas");
  ASSERT_FALSE(replicas.is_null());
  EXPECT_EQ(replicas["ranks"], 2);
  EXPECT_TRUE(replicas["identical"].get<bool>());
  EXPECT_EQ(find_event(events, "throughput")["ranks"], 2);
  EXPECT_FALSE(find_event(events, "eval", "test", "cold").is_null());
}

TEST_F(TrainMpmd, FourTrainerRanksKeepIdenticalDenseParametersInSyncMode) {
  const auto events = read_metrics(run(1, 4, "np4", "--set train.sync=true"));
  const auto replicas = find_event(events, "replicas");
  ASSERT_FALSE(replicas.is_null());
  EXPECT_EQ(replicas["ranks"], 4);
  EXPECT_TRUE(replicas["identical"].get<bool>());
}

TEST_F(TrainMpmd, ResumesAMultiRankRunFromItsCheckpoint) {
  const std::string out = run(2, 2, "resume", "--stop-after-steps 12");
  EXPECT_TRUE(std::filesystem::exists(out + "/checkpoints/latest"));
  run(2, 2, "resume", "--resume " + out + " --ps-dir " + out + "/ps");
  const auto events = read_metrics(out);
  EXPECT_EQ(find_event(events, "train")["step"], 24);
  EXPECT_TRUE(find_event(events, "replicas")["identical"].get<bool>());
}

// Sync mode pushes row gradients in rank order, so two runs of 2 trainers
// and 2 shards with one seed end with the same bits whatever the timing, and
// so does a run stopped and resumed halfway.
TEST_F(TrainMpmd, SyncModeMultiRankRunsAreReproducibleAndResumeExactly) {
  const std::string sync = "--set train.sync=true";
  const auto a = read_metrics(run(2, 2, "sync_a", sync));
  const auto b = read_metrics(run(2, 2, "sync_b", sync));
  const std::string resumed = run(2, 2, "sync_resumed", sync + " --stop-after-steps 12");
  run(2, 2, "sync_resumed", sync + " --resume " + resumed + " --ps-dir " + resumed + "/ps");
  const auto c = read_metrics(resumed);
  for (const char* subset : {"warm", "cold"}) {
    const auto expected = find_event(a, "eval", "test", subset);
    ASSERT_FALSE(expected.is_null()) << subset;
    EXPECT_EQ(find_event(b, "eval", "test", subset), expected) << subset;
    EXPECT_EQ(find_event(c, "eval", "test", subset), expected) << subset;
  }
  EXPECT_EQ(find_event(c, "start")["step"], 12);
}

TEST_F(TrainMpmd, ManyTrainerRanksWithoutServersIsAnErrorNamingTheFix) {
  const auto r = run_command("timeout 120 " + testing::mpirun() + " -np 2 " + kBin + " train " +
                             (*dir_ / "train.toml") + " --out " + (*dir_ / "noserver"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("need shared parameter servers"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace hybrec::trainer

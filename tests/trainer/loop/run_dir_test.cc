// What a run directory records and refuses, end to end with the `hybrec`
// binary (issue 17): `hybrec eval` finds a run's own snapshot from any
// directory and after a move; `--out` on an old run is refused unless
// --resume or --fresh; --fresh starts clean; a failed start writes nothing;
// a config too big for the machine is an error giving the sizes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "run_testing.h"
#include "trainer/loop/train_checkpoint.h"

namespace hybrec::trainer {
namespace {

namespace fs = std::filesystem;
using testing::find_event;
using testing::read_metrics;
using testing::run_command;

const std::string kBin = HYBREC_BIN;
const std::string kArgs =
    " --set train.sync=true --set train.eval_every=100 --set train.checkpoint_every=4 ";

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class RunDir : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir("hybrec-run-dir-test");
    const auto r = run_command(kBin + " data synth --out " + data() +
                               " --users 400 --items 200 --events-per-user 15 --seed 5");
    ASSERT_EQ(r.status, 0) << r.output;
    std::ofstream(config()) << "[data]\npath = \"" << data() << "\"\n"
                            << "[train]\nbatch_size = 64\nnegatives = 4\nlog_every_s = 60\n"
                               "threads = 1\n";
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string data() { return *dir_ / "synth.h5"; }
  static std::string config() { return *dir_ / "train.toml"; }

  // `hybrec train` run in directory `cwd` (made if missing).
  static testing::CommandResult train(const std::string& cwd, const std::string& args) {
    fs::create_directories(cwd);
    return run_command("cd " + cwd + " && " + kBin + " train " + config() + kArgs + args);
  }
  static std::vector<float> params_of(const std::string& run) {
    return read_trainer_checkpoint(result_checkpoint(run + "/checkpoints")).params;
  }
  static double eval_ndcg(const std::string& cwd, const std::string& run, const std::string& out) {
    const auto r = run_command("cd " + cwd + " && " + kBin + " eval " + run + " --out " + out);
    EXPECT_EQ(r.status, 0) << r.output;
    return find_event(read_metrics(out), "eval", "test", "warm")["ndcg@10"].get<double>();
  }

  static testing::TempDir* dir_;
};

testing::TempDir* RunDir::dir_ = nullptr;

TEST_F(RunDir, EvalUsesTheRunsOwnSnapshotFromAnyDirectoryAndAfterAMove) {
  // Two runs at the same relative path "run" under two directories.
  ASSERT_EQ(train(*dir_ / "a", "--out run --set train.max_steps=8").status, 0);
  ASSERT_EQ(train(*dir_ / "b", "--out run --set train.max_steps=8 --set train.seed=9").status, 0);
  const std::string a = *dir_ / "a/run";
  const double own = find_event(read_metrics(a), "eval", "test", "warm")["ndcg@10"];
  // From b, evaluating a must read a's rows, not b/run/ps.
  EXPECT_EQ(eval_ndcg(*dir_ / "b", a, *dir_ / "eval-from-b"), own);
  // Moved, and evaluated from yet another directory.
  fs::rename(a, *dir_ / "moved");
  EXPECT_EQ(eval_ndcg("/", *dir_ / "moved", *dir_ / "eval-moved"), own);
}

TEST_F(RunDir, OutOnAnExistingRunIsRefusedAndLeavesItUnchanged) {
  const std::string run = *dir_ / "old";
  ASSERT_EQ(train(dir_->path(), "--out " + run + " --set train.max_steps=8").status, 0);
  const std::string latest = bytes_of(run + "/checkpoints/latest");
  const std::string config_toml = bytes_of(run + "/config.toml");
  const std::string metrics = bytes_of(run + "/metrics.jsonl");
  const auto r = train(dir_->path(), "--out " + run + " --set train.max_steps=4");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("--out " + run + " already holds a run"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--resume " + run), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--fresh"), std::string::npos) << r.output;
  EXPECT_EQ(bytes_of(run + "/checkpoints/latest"), latest);
  EXPECT_EQ(latest, "step-000008\n");
  EXPECT_EQ(bytes_of(run + "/config.toml"), config_toml);
  EXPECT_EQ(bytes_of(run + "/metrics.jsonl"), metrics);

  const auto both = train(dir_->path(), "--out " + run + " --resume " + run + " --fresh");
  EXPECT_EQ(both.status, 1) << both.output;
  EXPECT_NE(both.output.find("pass one"), std::string::npos) << both.output;
}

TEST_F(RunDir, FreshDiscardsTheOldRunAndTrainsLikeANewOne) {
  const std::string run = *dir_ / "redo";
  ASSERT_EQ(train(dir_->path(), "--out " + run + " --set train.max_steps=8").status, 0);
  const auto r = train(dir_->path(), "--out " + run + " --fresh --set train.max_steps=4");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(bytes_of(run + "/checkpoints/latest"), "step-000004\n");
  EXPECT_FALSE(fs::exists(run + "/checkpoints/step-000008"));
  int starts = 0;
  for (const auto& e : read_metrics(run)) starts += e.value("event", "") == "start" ? 1 : 0;
  EXPECT_EQ(starts, 1);
  // Fresh rows and fresh dense weights: bit for bit a run in a new directory.
  ASSERT_EQ(train(dir_->path(), "--out " + *dir_ / "new --set train.max_steps=4").status, 0);
  EXPECT_EQ(params_of(run), params_of(*dir_ / "new"));
  EXPECT_EQ(
      find_event(read_metrics(run), "eval", "test", "warm")["ndcg@10"].get<double>(),
      find_event(read_metrics(*dir_ / "new"), "eval", "test", "warm")["ndcg@10"].get<double>());
}

TEST_F(RunDir, AFailedStartWritesNothing) {
  const std::string run = *dir_ / "kept";
  ASSERT_EQ(train(dir_->path(), "--out " + run + " --set train.max_steps=4").status, 0);
  const std::string config_toml = bytes_of(run + "/config.toml");
  const std::string metrics = bytes_of(run + "/metrics.jsonl");
  auto r = train(dir_->path(), "--resume " + run + " --data /nonexistent/x.h5");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/x.h5"), std::string::npos) << r.output;
  EXPECT_EQ(bytes_of(run + "/config.toml"), config_toml);
  EXPECT_EQ(bytes_of(run + "/metrics.jsonl"), metrics);
  r = train(dir_->path(), "--out " + run + " --fresh --data /nonexistent/x.h5");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_EQ(bytes_of(run + "/config.toml"), config_toml);  // --fresh discards only after the checks
  EXPECT_EQ(bytes_of(run + "/checkpoints/latest"), "step-000004\n");
  r = train(dir_->path(), "--out " + *dir_ / "never --data /nonexistent/x.h5");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_FALSE(fs::exists(*dir_ / "never"));
}

TEST_F(RunDir, AModelTooBigForTheMachineIsAnErrorGivingTheSizes) {
  const auto r =
      train(dir_->path(), "--out " + *dir_ / "huge" +
                              " --set model.dim=4096 --set model.layers=16 --set model.ffn_mult=16"
                              " --set model.history_len=512 --set model.heads=64");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("training needs about"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("step activations"), std::string::npos) << r.output;  // the plan's parts
  EXPECT_NE(r.output.find("available"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("bad_alloc"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(*dir_ / "huge"));
}

}  // namespace
}  // namespace hybrec::trainer

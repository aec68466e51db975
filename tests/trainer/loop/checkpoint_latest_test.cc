// checkpoints/latest only moves forward, and trainer.h5 records the
// snapshot dir relative to the run directory (so a moved run still finds
// its own rows).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "hybrec/kernels/error.h"
#include "testing/temp_dir.h"
#include "trainer/loop/run_dir.h"
#include "trainer/loop/train_checkpoint.h"

namespace hybrec::trainer {
namespace {

namespace fs = std::filesystem;
using hybrec::testing::TempDir;

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TrainerState state_at(int64_t step, const std::string& ps_dir) {
  TrainerState s;
  s.step = step;
  s.ps_version = step;
  s.ps_dir = ps_dir;
  s.params = s.adam_m = s.adam_v = {1.0f, 2.0f};
  return s;
}

TEST(CheckpointLatest, RefusesToMoveBackToAnOlderStep) {
  TempDir dir;
  const std::string root = dir / "run/checkpoints";
  write_trainer_checkpoint(root, state_at(20, dir / "run/ps"), "");
  mark_latest(root, 20);
  write_trainer_checkpoint(root, state_at(5, dir / "run/ps"), "");
  const std::string before = bytes_of(root + "/latest");
  std::string message;
  try {
    mark_latest(root, 5);
  } catch (const Error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("names step-000020"), std::string::npos) << message;
  EXPECT_NE(message.find("back to the older step-000005"), std::string::npos) << message;
  EXPECT_EQ(bytes_of(root + "/latest"), before);
  EXPECT_EQ(latest_step(root), 20);
  mark_latest(root, 20);  // the same step again is no move back
  // An early-stopped run's result is its best step, named by `best`, while
  // `latest` stays at the newest.
  EXPECT_EQ(result_checkpoint(root), (fs::path(root) / "step-000020").string());
  mark_best(root, 5);
  EXPECT_EQ(result_checkpoint(root), (fs::path(root) / "step-000005").string());
  EXPECT_EQ(latest_step(root), 20);
}

TEST(CheckpointLatest, SnapshotDirIsRecordedRelativeToTheRunDir) {
  TempDir dir;
  write_trainer_checkpoint(dir / "run/checkpoints", state_at(3, dir / "run/ps"), "");
  fs::rename(dir / "run", dir / "moved");
  const TrainerState s = read_trainer_checkpoint(dir / "moved/checkpoints/step-000003");
  EXPECT_EQ(fs::path(s.ps_dir), fs::weakly_canonical(dir / "moved/ps")) << s.ps_dir;
  EXPECT_EQ(s.format_version, 2);
  // A snapshot dir outside the run is recorded as an absolute path.
  write_trainer_checkpoint(dir / "other/checkpoints", state_at(3, dir / "elsewhere"), "");
  const TrainerState t = read_trainer_checkpoint(dir / "other/checkpoints/step-000003/");
  EXPECT_EQ(fs::path(t.ps_dir), fs::weakly_canonical(dir / "elsewhere")) << t.ps_dir;
}

TEST(RunDir, PathsInsideTheRunAreRecordedRelativeOthersAbsolute) {
  TempDir dir;
  EXPECT_EQ(path_for_run_dir(dir / "run/ps", dir / "run"), "ps");
  EXPECT_EQ(path_for_run_dir(dir / "data.h5", dir / "run"),
            fs::weakly_canonical(dir / "data.h5").string());
  EXPECT_EQ(path_from_run_dir("ps", dir / "run"), dir / "run/ps");
  EXPECT_EQ(path_from_run_dir("/abs/x.h5", dir / "run"), "/abs/x.h5");
}

TEST(RunDir, ExistingRunNamesWhatIsThere) {
  TempDir dir;
  EXPECT_EQ(existing_run(dir / "missing"), "");
  fs::create_directories(dir / "run/logs");
  EXPECT_EQ(existing_run(dir / "run"), "");  // only logs: not a run
  std::ofstream(dir / "run/config.toml") << "";
  EXPECT_NE(existing_run(dir / "run").find("config.toml exists"), std::string::npos);
  write_trainer_checkpoint(dir / "run/checkpoints", state_at(7, dir / "run/ps"), "");
  mark_latest(dir / "run/checkpoints", 7);
  EXPECT_NE(existing_run(dir / "run").find("latest names step-000007"), std::string::npos);
}

}  // namespace
}  // namespace hybrec::trainer

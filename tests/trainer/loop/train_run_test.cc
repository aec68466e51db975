// End-to-end runs of `hybrec train` and `hybrec eval` on a small synthetic
// dataset, one rank with in-process parameter-server shards.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "parameter_server/store/checkpoint.h"
#include "parameter_server/store/row_store.h"
#include "parameter_server/wire/slicer.h"
#include "run_testing.h"
#include "trainer/data/dataset.h"
#include "trainer/loop/examples.h"
#include "trainer/loop/train_checkpoint.h"
#include "trainer/model/id_tables.h"

namespace hybrec::trainer {
namespace {

using testing::find_event;
using testing::read_metrics;
using testing::run_command;

const std::string kBin = HYBREC_BIN;

class TrainRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir("hybrec-train-test");
    const auto r = run_command(kBin + " data synth --out " + data() +
                               " --users 1200 --items 500 --events-per-user 25 --seed 3");
    ASSERT_EQ(r.status, 0) << r.output;
    std::ofstream(config()) << "[data]\npath = \"" << data() << "\"\n"
                            << "[train]\nbatch_size = 128\nnegatives = 8\nlog_every_s = 60\n"
                               "threads = 1\n";
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string data() { return *dir_ / "synth.h5"; }
  static std::string config() { return *dir_ / "train.toml"; }

  // Runs hybrec train into DIR/<name>; returns the run directory.
  static std::string train(const std::string& name, const std::string& args, int expect = 0) {
    const std::string out = *dir_ / name;
    const auto r = run_command(kBin + " train " + config() + " --out " + out + " " + args);
    EXPECT_EQ(r.status, expect) << r.output;
    return out;
  }

  static std::vector<float> final_params(const std::string& run) {
    return read_trainer_checkpoint(result_checkpoint(run + "/checkpoints")).params;
  }

  static testing::TempDir* dir_;
};

testing::TempDir* TrainRun::dir_ = nullptr;

const char* kSync = "--set train.sync=true --set train.max_steps=12 --set train.eval_every=6 ";

TEST_F(TrainRun, OneRankSyncRunIsBitwiseReproducibleFromItsSeed) {
  const std::string a = train("repro-a", kSync);
  const std::string b = train("repro-b", kSync);
  const std::string c = train("repro-c", std::string(kSync) + "--set train.seed=2");
  EXPECT_EQ(final_params(a), final_params(b));
  EXPECT_NE(final_params(a), final_params(c));
  const auto ea = read_metrics(a), eb = read_metrics(b);
  const auto la = find_event(ea, "train"), lb = find_event(eb, "train");
  ASSERT_FALSE(la.is_null());
  EXPECT_EQ(la["loss"].get<double>(), lb["loss"].get<double>());
  EXPECT_EQ(find_event(ea, "eval", "test", "warm")["hr@10"].get<double>(),
            find_event(eb, "eval", "test", "warm")["hr@10"].get<double>());
}

TEST_F(TrainRun, ResumeReachesTheSameLossAsAnUninterruptedSyncRun) {
  const std::string args =
      "--set train.sync=true --set train.max_steps=16 "
      "--set train.eval_every=100 --set train.checkpoint_every=4 ";
  const std::string whole = train("whole", args);
  const std::string parts = train("parts", args + "--stop-after-steps 8");
  EXPECT_EQ(read_trainer_checkpoint(latest_checkpoint(parts + "/checkpoints")).step, 8);
  train("parts", args + "--resume " + parts);
  const auto w = read_metrics(whole), p = read_metrics(parts);
  const auto lw = find_event(w, "train"), lp = find_event(p, "train");
  ASSERT_EQ(lw["step"], 16);
  ASSERT_EQ(lp["step"], 16);
  EXPECT_EQ(lw["loss"].get<double>(), lp["loss"].get<double>());
  EXPECT_EQ(final_params(whole), final_params(parts));
}

// Finding 6 of the integrity review: versioned snapshots were never pruned
// (and two runs sharing servers wrote the same ps/v<step>). A run saves under
// its own id and keeps the last train.keep_checkpoints snapshots and the
// best validated one.
TEST_F(TrainRun, SnapshotsAreKeptPerRunForTheLastNAndTheBest) {
  const std::string run = train("retention",
                                "--set train.sync=true --set train.max_steps=16 "
                                "--set train.checkpoint_every=2 --set train.eval_every=4 "
                                "--set train.patience=0 --set train.keep_checkpoints=2");
  const TrainerState best = read_trainer_checkpoint(result_checkpoint(run + "/checkpoints"));
  const TrainerState last = read_trainer_checkpoint(latest_checkpoint(run + "/checkpoints"));
  ASSERT_EQ(last.step, 16);
  ASSERT_FALSE(last.ps_run.empty());
  EXPECT_EQ(best.ps_run, last.ps_run);
  std::set<std::string> kept;
  for (const auto& e : std::filesystem::directory_iterator(run + "/ps/runs/" + last.ps_run)) {
    kept.insert(e.path().filename().string());
  }
  std::set<std::string> expected = {"v14", "v16", "v" + std::to_string(best.best_step)};
  EXPECT_EQ(kept, expected) << "best step " << best.best_step;
  // The trainer's own step directories follow the same retention.
  std::set<std::string> steps;
  for (const auto& e : std::filesystem::directory_iterator(run + "/checkpoints")) {
    if (e.is_directory()) steps.insert(e.path().filename().string());
  }
  char best_dir[32];
  std::snprintf(best_dir, sizeof best_dir, "step-%06lld", static_cast<long long>(best.best_step));
  EXPECT_EQ(steps, (std::set<std::string>{"step-000014", "step-000016", best_dir}));
  // Only this run's namespace exists under the servers' dir.
  size_t runs = 0;
  for (const auto& e : std::filesystem::directory_iterator(run + "/ps/runs"))
    runs += e.is_directory();
  EXPECT_EQ(runs, 1u);
  // And what is kept evaluates.
  const auto r = run_command(kBin + " eval " + run + " --out " + run + "/eval.jsonl");
  EXPECT_EQ(r.status, 0) << r.output;
}

// Finding 4 of the integrity review: evaluation created rows, because every
// pull inserted. Validation and the test evaluation score every item,
// including the cold ones that no training event touches; with read-only
// pulls the servers end holding rows for the trained items only.
TEST_F(TrainRun, EvaluationStoresNoRowsOnTheServers) {
  const std::string run = train("no-eval-rows",
                                "--set train.sync=true --set train.max_steps=12 "
                                "--set train.eval_every=4 --set train.patience=0");
  const Dataset data = read_dataset(this->data());
  const TrainingSet set = make_training_set(data);
  int64_t trained_items = 0;
  for (int64_t c : set.item_count) trained_items += c > 0;
  ASSERT_LT(trained_items, data.num_items) << "the dataset needs cold items for this test";
  // The in-process shard's final snapshot, written when the run ended.
  const ps::RowStore none;
  ps::JumpHashSlicer one(1);
  const ps::LoadedCheckpoint servers =
      ps::read_checkpoint(run + "/ps", ps::kLatestCheckpoint, ps::ShardId{0, 1}, one, none);
  EXPECT_LE(servers.store->table(kItemTable).size(), trained_items)
      << "rows of items no training event touched were stored by evaluation";
}

TEST_F(TrainRun, HybridBeatsPopularityAndRandomOnWarmAndCfOnCold) {
  const std::string epochs = "--set train.epochs=4 --set train.eval_every=0 ";
  const std::string hybrid = train("hybrid", epochs + "--set model.id_dropout=0.3");
  const std::string cf =
      train("cf", epochs + "--set model.use_text=false --set model.use_text_score=false");
  const auto pop = run_command(kBin + " eval " + hybrid + " --baseline popularity --out " +
                               *dir_ / "popularity");
  ASSERT_EQ(pop.status, 0) << pop.output;
  const auto h = read_metrics(hybrid), c = read_metrics(cf), p = read_metrics(*dir_ / "popularity");
  const double hybrid_warm = find_event(h, "eval", "test", "warm")["hr@10"];
  const double pop_warm = find_event(p, "eval", "test", "warm")["hr@10"];
  const double random_warm = 10.0 / 400.0;  // 400 warm items
  EXPECT_GT(hybrid_warm, pop_warm);
  EXPECT_GE(hybrid_warm, 3 * random_warm);
  const double hybrid_cold = find_event(h, "eval", "test", "cold")["hr@10"];
  const double cf_cold = find_event(c, "eval", "test", "cold")["hr@10"];
  EXPECT_GT(hybrid_cold, cf_cold);
  // Every model and baseline gets the beyond-accuracy metrics on every
  // subset; the random floor covers more of the catalogue than popularity,
  // with less popular items.
  const auto rnd =
      run_command(kBin + " eval " + hybrid + " --baseline random --out " + *dir_ / "random");
  ASSERT_EQ(rnd.status, 0) << rnd.output;
  EXPECT_NE(rnd.output.find("coverage@10"), std::string::npos) << rnd.output;
  const auto r = read_metrics(*dir_ / "random");
  for (const auto* events : {&h, &p, &r}) {
    for (const char* subset : {"warm", "cold", "cold_all"}) {
      const auto e = find_event(*events, "eval", "test", subset);
      ASSERT_FALSE(e.is_null()) << subset;
      for (const char* key : {"coverage@10", "gini@10", "pop_pct@10", "new_share@10"}) {
        EXPECT_GE(e.at(key).get<double>(), 0.0) << key << " " << subset;
        EXPECT_LE(e.at(key).get<double>(), 1.0) << key << " " << subset;
      }
      EXPECT_GT(e.at("ild@10").get<double>(), 0.0) << subset;  // the synthetic data has text
      EXPECT_GT(e.at("novelty@10").get<double>(), 0.0) << subset;
    }
  }
  const auto pop_lists = find_event(p, "eval", "test", "warm");
  const auto random_lists = find_event(r, "eval", "test", "warm");
  EXPECT_GT(random_lists["coverage@10"].get<double>(), pop_lists["coverage@10"].get<double>());
  EXPECT_LT(random_lists["pop_pct@10"].get<double>(), pop_lists["pop_pct@10"].get<double>());
  // The offline evaluation of the saved checkpoint agrees with the run's own.
  const auto again = run_command(kBin + " eval " + hybrid + " --out " + *dir_ / "again");
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(
      find_event(read_metrics(*dir_ / "again"), "eval", "test", "cold")["hr@10"].get<double>(),
      hybrid_cold);
}

TEST_F(TrainRun, DataCommandsDescribeAndRejectByName) {
  auto r = run_command(kBin + " data info " + data());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("1200"), std::string::npos) << r.output;  // users
  EXPECT_NE(r.output.find("hashing"), std::string::npos) << r.output;

  r = run_command(kBin + " data synth --out " + *dir_ / "bad.h5" + " --users 0");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("users"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(*dir_ / "bad.h5"));

  r = run_command(kBin + " data import movielens /nonexistent/ml --out " + *dir_ / "ml.h5");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("/nonexistent/ml"), std::string::npos) << r.output;

  r = run_command(kBin + " data info /nonexistent/x.h5");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("/nonexistent/x.h5"), std::string::npos) << r.output;
}

TEST_F(TrainRun, BadInputIsAnErrorNamingIt) {
  std::ofstream(*dir_ / "typo.toml") << "[model]\ndimm = 3\n";
  auto r = run_command(kBin + " train " + *dir_ / "typo.toml" + " --out " + *dir_ / "typo");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("unknown key 'model.dimm'"), std::string::npos) << r.output;

  r = run_command(kBin + " train " + config() + " --out " + *dir_ / "nodata" +
                  " --data /nonexistent/x.h5");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("/nonexistent/x.h5"), std::string::npos) << r.output;

  r = run_command(kBin + " train " + config() + " --out " + *dir_ / "noserver" +
                  " --ps 127.0.0.1:1 --set train.max_steps=2");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("127.0.0.1:1"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(*dir_ / "noserver/checkpoints/latest"));

  r = run_command(kBin + " train " + config() + " --resume " + *dir_ / "noresume");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("no checkpoint"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace hybrec::trainer

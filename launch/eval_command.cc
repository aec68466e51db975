// hybrec eval: full-ranking evaluation of a saved checkpoint (or a baseline)
// on a dataset's test split, warm and cold items; in parallel over ranks
// under mpirun. Reads the parameter-server snapshot files directly.
#include <filesystem>
#include <iostream>
#include <memory>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"
#include "launch/overrides.h"
#include "launch/trainer_ranks.h"
#include "trainer/eval/evaluate.h"
#include "trainer/eval/model_scorer.h"
#include "trainer/eval/snapshot_rows.h"
#include "trainer/loop/examples.h"
#include "trainer/loop/run_log.h"
#include "trainer/loop/train_checkpoint.h"
#include "trainer/loop/trainer.h"

namespace hybrec::launch {

namespace fs = std::filesystem;

namespace {

constexpr const char* kUsage =
    "hybrec eval CHECKPOINT [--data FILE] [--out DIR] [--baseline popularity]\n"
    "            [--set section.key=value ...]\n"
    "CHECKPOINT is a run directory (its checkpoints/latest) or one step directory.";

// The step directory CHECKPOINT names.
std::string step_dir_of(const std::string& checkpoint) {
  if (fs::exists(fs::path(checkpoint) / "trainer.h5")) return checkpoint;
  const std::string latest =
      trainer::latest_checkpoint((fs::path(checkpoint) / "checkpoints").string());
  HYBREC_CHECK(!latest.empty(), "hybrec eval: ", checkpoint,
               " is neither a checkpoint step directory (with trainer.h5) nor a run directory "
               "with checkpoints/latest");
  return latest;
}

}  // namespace

int run_eval(int argc, char** argv) {
  SplitArgs args = take_overrides(argc, argv);
  Flags flags("hybrec eval", kUsage);
  flags.add("data", "FILE", "dataset file (default: the run's data.path)");
  flags.add("out", "DIR", "append results to DIR/metrics.jsonl (default: the run directory)");
  flags.add("baseline", "NAME", "evaluate a baseline instead of the model: popularity");
  flags.add("help", "", "print this help");
  flags.parse(static_cast<int>(args.rest.size()), args.rest.data(), 2);
  if (flags.has("help")) {
    std::cout << flags.help();
    return 0;
  }
  HYBREC_CHECK(flags.positional().size() == 1, "hybrec eval: expected one CHECKPOINT, got ",
               flags.positional().size(), " arguments");
  const std::string baseline = flags.get("baseline", "");
  HYBREC_CHECK(baseline.empty() || baseline == "popularity", "hybrec eval: unknown --baseline '",
               baseline, "' (known: popularity)");
  const std::string step_dir = step_dir_of(flags.positional()[0]);
  if (flags.has("data")) args.overrides.push_back("data.path=" + flags.require("data"));
  const trainer::TrainConfig config =
      trainer::load_config((fs::path(step_dir) / "config.toml").string(), args.overrides);
  const fs::path run_dir = fs::path(step_dir).parent_path().parent_path();
  const std::string out_dir = flags.get("out", run_dir.string());

  TrainerRanks ranks;

  const trainer::Dataset data = trainer::read_dataset(config.data_path);
  const trainer::HybridModel model(trainer::model_config_for(config, data));
  const trainer::TrainerState state = trainer::read_trainer_checkpoint(step_dir);
  HYBREC_CHECK(static_cast<int64_t>(state.params.size()) == model.num_params(), "checkpoint ",
               step_dir, " holds ", state.params.size(), " dense parameters; the model of its ",
               "config.toml has ", model.num_params());
  std::unique_ptr<trainer::Scorer> scorer;
  std::unique_ptr<trainer::SnapshotRows> rows;
  if (baseline == "popularity") {
    scorer =
        std::make_unique<trainer::PopularityScorer>(trainer::make_training_set(data).item_count);
  } else {
    trainer::RowFetcher fetch;
    if (config.model.use_id) {
      rows = std::make_unique<trainer::SnapshotRows>(state.ps_dir, state.ps_version);
      fetch = rows->fetcher();
    }
    scorer = std::make_unique<trainer::ModelScorer>(model, state.params.data(), data, fetch);
  }
  const auto results = trainer::evaluate(
      data, *scorer, ranks.comm(), config, "test",
      {trainer::EvalSubset::kWarm, trainer::EvalSubset::kCold, trainer::EvalSubset::kColdAll}, 0);
  if (ranks.comm().rank() == 0) {
    std::cout << "checkpoint " << step_dir << (baseline.empty() ? "" : ", baseline " + baseline)
              << ", data " << config.data_path << "\n"
              << trainer::format_results(results);
    trainer::MetricsLog log((fs::path(out_dir) / "metrics.jsonl").string());
    for (const auto& r : results) {
      nlohmann::json event = trainer::eval_event(r, state.step);
      event["source"] = "hybrec eval";
      event["model"] = baseline.empty() ? "checkpoint" : baseline;
      log.write(event);
    }
  }
  ranks.finish();
  return 0;
}

}  // namespace hybrec::launch

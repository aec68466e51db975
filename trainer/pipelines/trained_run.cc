#include "trainer/pipelines/trained_run.h"

#include <filesystem>

#include "hybrec/kernels/error.h"
#include "trainer/eval/baselines.h"
#include "trainer/eval/model_scorer.h"
#include "trainer/loop/examples.h"
#include "trainer/loop/run_dir.h"
#include "trainer/loop/trainer.h"

namespace hybrec::trainer {

namespace fs = std::filesystem;

std::string checkpoint_step_dir(const std::string& checkpoint) {
  fs::path given = fs::path(checkpoint).lexically_normal();
  if (!given.has_filename() && given.has_parent_path()) given = given.parent_path();  // "DIR/"
  if (fs::exists(given / "trainer.h5")) return given.string();
  const std::string result = result_checkpoint((fs::path(checkpoint) / "checkpoints").string());
  HYBREC_CHECK(!result.empty(), checkpoint,
               " is neither a checkpoint step directory (with trainer.h5) nor a run directory "
               "with checkpoints/best or checkpoints/latest");
  return result;
}

namespace {

bool overrides_data_path(const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) {
    if (o.rfind("data.path=", 0) == 0) return true;
  }
  return false;
}

TrainedRun load(const std::string& step_dir, const std::vector<std::string>& overrides) {
  const fs::path absolute_step = fs::absolute(step_dir).lexically_normal();
  const std::string run_dir = absolute_step.parent_path().parent_path().string();
  TrainerState state = read_trainer_checkpoint(step_dir);  // ps_dir resolved against run_dir
  TrainConfig config = load_config((fs::path(step_dir) / "config.toml").string(), overrides);
  // A relative data.path of the run's config is relative to the run
  // directory (run_dir.h); --data (an override) is the caller's own path.
  // Version 1 checkpoints recorded it as the training command saw it.
  if (state.format_version >= 2 && !overrides_data_path(overrides)) {
    config.data_path = path_from_run_dir(config.data_path, run_dir);
  }
  Dataset data = read_dataset(config.data_path);
  HybridModel model(model_config_for(config, data));
  return TrainedRun{step_dir,        run_dir,          std::move(config),
                    std::move(data), std::move(model), std::move(state)};
}

}  // namespace

TrainedRun load_trained_run(const std::string& checkpoint,
                            const std::vector<std::string>& overrides) {
  TrainedRun run = load(checkpoint_step_dir(checkpoint), overrides);
  HYBREC_CHECK(static_cast<int64_t>(run.state.params.size()) == run.model.num_params(),
               "checkpoint ", run.step_dir, " holds ", run.state.params.size(),
               " dense parameters; the model of its config.toml has ", run.model.num_params());
  return run;
}

RunScorer make_run_scorer(const TrainedRun& run) {
  RunScorer out;
  RowFetcher fetch;
  if (run.config.model.use_id) {
    out.rows =
        std::make_unique<SnapshotRows>(run.state.ps_dir, run.state.ps_run, run.state.ps_version);
    fetch = out.rows->fetcher();
  }
  out.scorer = std::make_unique<ModelScorer>(run.model, run.state.params.data(), run.data, fetch);
  return out;
}

std::vector<EvalResult> evaluate_trained_run(const TrainedRun& run, Communicator& comm,
                                             Baseline baseline, const std::string& split,
                                             const std::vector<EvalSubset>& subsets) {
  RunScorer model;
  std::unique_ptr<Scorer> scorer;
  if (baseline == Baseline::kPopularity) {
    scorer = std::make_unique<PopularityScorer>(make_training_set(run.data).item_count);
  } else if (baseline == Baseline::kRandom) {
    scorer = std::make_unique<RandomScorer>(run.data.num_items,
                                            static_cast<uint64_t>(run.config.train.seed));
  } else {
    model = make_run_scorer(run);
  }
  Scorer& s = scorer ? *scorer : *model.scorer;
  return evaluate(run.data, s, comm, eval_settings_for(run.config), split, subsets, 0);
}

}  // namespace hybrec::trainer

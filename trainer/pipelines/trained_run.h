// A finished (or checkpointed) training run, loaded back: its resolved
// config, its dataset, the model that config describes, the dense
// parameters of the checkpoint, and the id rows of the parameter-server
// snapshot taken at the same step, read from the snapshot files (no running
// server needed). `hybrec eval` evaluates one; serving will score with one.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/dist/communicator.h"
#include "trainer/eval/evaluate.h"
#include "trainer/eval/snapshot_rows.h"
#include "trainer/loop/config.h"
#include "trainer/loop/train_checkpoint.h"
#include "trainer/model/hybrid_model.h"

namespace hybrec::trainer {

// The step directory CHECKPOINT names: CHECKPOINT itself when it holds
// trainer.h5, else the run directory's checkpoints/best (the best validated
// step), else its checkpoints/latest. Throws naming CHECKPOINT when it is
// neither.
std::string checkpoint_step_dir(const std::string& checkpoint);

struct TrainedRun {
  std::string step_dir;  // the checkpoint step directory
  std::string run_dir;   // the run directory above it
  TrainConfig config;    // step_dir/config.toml with the overrides applied
  Dataset data;          // config.data_path
  HybridModel model;     // of config and data
  TrainerState state;    // dense parameters, step, snapshot version
};

// Loads CHECKPOINT (a run or step directory, see checkpoint_step_dir) with
// `overrides` ("section.key=value") applied to its config. Throws naming
// the file when the checkpoint does not fit the model of its config.
TrainedRun load_trained_run(const std::string& checkpoint,
                            const std::vector<std::string>& overrides);

// The run's model as an evaluation scorer, with the snapshot rows it reads
// (declared first, so they outlive the scorer).
struct RunScorer {
  std::unique_ptr<SnapshotRows> rows;  // null when the model has no id embeddings
  std::unique_ptr<Scorer> scorer;
};
RunScorer make_run_scorer(const TrainedRun& run);

// kPopularity: training-event counts; kRandom: seeded uniform scores (baselines.h).
enum class Baseline { kNone, kPopularity, kRandom };

// Full-ranking evaluation of the run (or of a baseline on its data) on
// `split`, over `subsets`, in parallel over the ranks of `comm`; id rows
// come from the run's parameter-server snapshot.
std::vector<EvalResult> evaluate_trained_run(const TrainedRun& run, Communicator& comm,
                                             Baseline baseline, const std::string& split,
                                             const std::vector<EvalSubset>& subsets);

}  // namespace hybrec::trainer

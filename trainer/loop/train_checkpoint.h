// The trainer's side of a checkpoint: dense parameters, the dense optimizer's
// state, the step (which fixes every reader's position: readers are a pure
// function of seed, epoch and step), and the version of the parameter-server
// snapshot taken at the same step.
//
// Layout under a run directory:
//   DIR/checkpoints/step-<N>/trainer.h5   params, adam_m, adam_v + attributes
//   DIR/checkpoints/step-<N>/config.toml  the resolved config of the run
//   DIR/checkpoints/latest                "step-<N>": the newest complete one
//   DIR/checkpoints/best                  "step-<N>": the best validated one
// Each file is written under a temporary name and renamed; `latest` moves
// only after the step's files and the server snapshot are complete, so an
// interrupted checkpoint leaves the previous one in force, and `latest`
// never moves back to an older step. Resuming continues from `latest`;
// evaluating a run uses `best`.
//
// trainer.h5 carries the online trainer's stream position as attributes
// (stream_url, stream_position, stream_events, stream_new_items,
// catalogue_items), written only when stream_url is set; it is
// written with the rest of trainer.h5, so position and parameters are one
// atomic checkpoint.
//
// trainer.h5 records ps_dir relative to the run directory (DIR above
// checkpoints/) when it lies inside it, so a run can be moved and evaluated
// from anywhere (format version 2; version 1 files, which recorded the path
// as the training command saw it, are still read).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hybrec::trainer {

struct TrainerState {
  int64_t step = 0;         // steps completed
  int64_t ranks = 1;        // trainer ranks that wrote it (readers are strided by it)
  int64_t ps_version = -1;  // parameter-server snapshot version; -1 = no id tables
  std::string ps_dir;       // where the servers keep their snapshots (as the
                            // current directory sees it: the reader resolves
                            // what trainer.h5 records against the run dir)
  // The run id the snapshots are saved under (ps_dir/runs/<ps_run>/); empty
  // in checkpoints from before run namespaces (ps_dir/v<version>).
  std::string ps_run;
  int64_t format_version = 0;  // of the file it was read from (0: not read)
  int64_t best_step = -1;      // early stopping: the step of the best validation
  double best_metric = -1.0;
  int64_t evals_since_best = 0;
  int64_t adam_step = 0;
  std::vector<float> params, adam_m, adam_v;
  // Online training (absent in checkpoints of runs without a stream): the
  // stream, the position of the last event whose rows were pushed before
  // this checkpoint (a resumed run reads the events after it), the events
  // trained in all, the new items seen (the lines of online/new_items.jsonl
  // that belong to this checkpoint) and the catalogue's size (dataset items
  // plus new ones).
  std::string stream_url;
  int64_t stream_position = 0;
  int64_t stream_events = 0;
  int64_t stream_new_items = 0;
  int64_t catalogue_items = 0;
};

// Writes step-<N>/ (trainer.h5 and config.toml) under checkpoint_root. Does not
// move `latest` (see mark_latest).
std::string write_trainer_checkpoint(const std::string& checkpoint_root, const TrainerState& state,
                                     const std::string& config_toml);

// Points checkpoint_root/latest at step-<step>, atomically. `latest` never
// moves backwards: throws (leaving it as it was) when it already names a
// later step.
void mark_latest(const std::string& checkpoint_root, int64_t step);

// Points checkpoint_root/best at step-<step>, atomically: the best validated
// checkpoint, the one a finished run is evaluated with (early stopping's
// point). Unlike `latest` it may name an earlier step.
void mark_best(const std::string& checkpoint_root, int64_t step);

// The step checkpoint_root/latest names, or -1 when there is none.
int64_t latest_step(const std::string& checkpoint_root);

// The directory `latest` names, or "" when there is none.
std::string latest_checkpoint(const std::string& checkpoint_root);

// The directory `best` names, else `latest`'s, else "": the checkpoint that
// stands for a run's result (what `hybrec eval RUN` loads).
std::string result_checkpoint(const std::string& checkpoint_root);

// Reads DIR/trainer.h5 of a step directory; errors name the file and what is wrong.
TrainerState read_trainer_checkpoint(const std::string& step_dir);

// Deletes every step-<N>/ under checkpoint_root whose N is not in keep
// (retention). `latest` and `best` must name kept steps.
void prune_trainer_checkpoints(const std::string& checkpoint_root,
                               const std::vector<int64_t>& keep);

// The step directory's name: "step-000123".
std::string step_dir_name(int64_t step);

}  // namespace hybrec::trainer

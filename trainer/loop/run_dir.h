// What a run directory records about where things are, and what a new run
// may do with a directory that already holds one.
//
// Paths a run records (the parameter-server snapshot dir in trainer.h5,
// data.path in config.toml) must not depend on the directory the command
// ran in: a path under the run directory is recorded relative to it (the
// default snapshot dir is "ps"), anything else as an absolute path, and a
// relative recorded path is resolved against the run directory. So a run
// can be moved and evaluated from anywhere; absolute paths recorded by older
// builds keep working.
#pragma once

#include <string>

#include "trainer/loop/config.h"

namespace hybrec::trainer {

// `path` (as the current directory sees it) as run_dir records it: relative
// to run_dir when it lies inside run_dir, else absolute.
std::string path_for_run_dir(const std::string& path, const std::string& run_dir);

// A path run_dir recorded, for the current directory: absolute ones as they
// are, relative ones joined to run_dir.
std::string path_from_run_dir(const std::string& recorded, const std::string& run_dir);

// The config as run_dir records it (its config.toml and every checkpoint's):
// data.path through path_for_run_dir.
TrainConfig config_for_run_dir(const TrainConfig& config, const std::string& run_dir);

// Why `dir` already holds a run ("DIR/checkpoints/latest names step-000020",
// "DIR/config.toml exists", "DIR/ps/runs holds a run's parameter-server
// snapshots"), or "" when it does not (missing, empty, only logs, or only
// the servers' own DIR/ps/latest).
std::string existing_run(const std::string& dir);

// Whether `path` lies inside `dir` (both resolved, symlinks followed).
bool is_inside(const std::string& path, const std::string& dir);

// --fresh: removes the old run's state from run_dir: checkpoints/,
// metrics.jsonl, config.toml, online/ (new items of a stream), and ps_dir
// when it lies inside run_dir.
// Other files (logs) stay.
void discard_run_state(const std::string& run_dir, const std::string& ps_dir);

}  // namespace hybrec::trainer

#include "trainer/loop/run_dir.h"

#include <filesystem>
#include <fstream>
#include <system_error>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

namespace fs = std::filesystem;

namespace {

fs::path resolved(const std::string& path) {
  return fs::weakly_canonical(fs::absolute(path)).lexically_normal();
}

bool non_empty_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && !fs::is_empty(dir, ec);
}

}  // namespace

bool is_inside(const std::string& path, const std::string& dir) {
  const fs::path rel = resolved(path).lexically_relative(resolved(dir));
  return !rel.empty() && rel != "." && *rel.begin() != "..";
}

std::string path_for_run_dir(const std::string& path, const std::string& run_dir) {
  if (path.empty()) return path;
  if (is_inside(path, run_dir)) {
    const fs::path rel = resolved(path).lexically_relative(resolved(run_dir));
    return rel.string();
  }
  return resolved(path).string();
}

std::string path_from_run_dir(const std::string& recorded, const std::string& run_dir) {
  if (recorded.empty() || fs::path(recorded).is_absolute()) return recorded;
  return (fs::path(run_dir) / recorded).lexically_normal().string();
}

TrainConfig config_for_run_dir(const TrainConfig& config, const std::string& run_dir) {
  TrainConfig recorded = config;
  recorded.data_path = path_for_run_dir(config.data_path, run_dir);
  return recorded;
}

std::string existing_run(const std::string& dir) {
  const fs::path root(dir);
  std::error_code ec;
  const fs::path latest = root / "checkpoints" / "latest";
  if (fs::exists(latest, ec)) {
    std::ifstream in(latest);
    std::string name;
    std::getline(in, name);
    return latest.string() + " names " + name;
  }
  if (fs::exists(root / "checkpoints", ec)) return (root / "checkpoints").string() + " exists";
  if (fs::exists(root / "config.toml", ec)) return (root / "config.toml").string() + " exists";
  // A run's snapshots live under ps/runs/<id>/. The servers' own periodic
  // ps/latest is not one: standalone shards started with --ps-dir DIR/ps
  // write it before the run's first step.
  if (non_empty_dir(root / "ps" / "runs")) {
    return (root / "ps" / "runs").string() + " holds a run's parameter-server snapshots";
  }
  return "";
}

void discard_run_state(const std::string& run_dir, const std::string& ps_dir) {
  const fs::path root(run_dir);
  std::error_code ec;
  for (const fs::path& p :
       {root / "checkpoints", root / "metrics.jsonl", root / "config.toml", root / "online"}) {
    fs::remove_all(p, ec);
    HYBREC_CHECK(!ec, "--fresh: cannot remove ", p.string(), ": ", ec.message());
  }
  if (is_inside(ps_dir, run_dir) && fs::exists(ps_dir, ec)) {
    fs::remove_all(ps_dir, ec);
    HYBREC_CHECK(!ec, "--fresh: cannot remove ", ps_dir, ": ", ec.message());
  }
}

}  // namespace hybrec::trainer

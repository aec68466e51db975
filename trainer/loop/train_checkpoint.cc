#include "trainer/loop/train_checkpoint.h"

#include <hdf5.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "hybrec/kernels/error.h"
#include "parameter_server/storage/atomic_file.h"
#include "parameter_server/storage/hdf5_util.h"
#include "trainer/loop/run_dir.h"

namespace hybrec::trainer {

namespace fs = std::filesystem;
namespace h5 = storage::hdf5;

namespace {

// 2: ps_dir relative to the run directory when inside it. 1: as given.
constexpr int32_t kTrainerCheckpointVersion = 2;
constexpr int32_t kOldestReadableVersion = 1;
constexpr const char* kKind = "trainer checkpoint";

void write_vector(hid_t file, const char* name, const std::vector<float>& v,
                  const std::string& path) {
  h5::Handle ds =
      h5::create_dataset(file, name, H5T_IEEE_F32LE, 1, 1, static_cast<int64_t>(v.size()), path);
  h5::append_block(ds, 1, H5T_NATIVE_FLOAT, v.data(),
                   h5::Block{0, static_cast<int64_t>(v.size()), 1, 0, 1}, path, name);
}

std::vector<float> read_vector(hid_t file, const char* name, int64_t expected,
                               const std::string& path) {
  h5::Extent extent;
  h5::Handle ds = h5::open_dataset(file, name, H5T_FLOAT, 1, path, "root", &extent);
  HYBREC_CHECK(extent.rows == expected, "trainer checkpoint ", path, ": dataset '", name, "' has ",
               extent.rows, " values, expected ", expected);
  std::vector<float> v(static_cast<std::size_t>(expected));
  if (expected > 0) {
    h5::read_block(ds, 1, H5T_NATIVE_FLOAT, v.data(), h5::Block{0, expected, 1, 0, 1}, path, name);
  }
  return v;
}

void write_text(const std::string& path, const std::string& text) {
  storage::write_atomically(
      path,
      [&](const std::string& temp) {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        out << text;
        out.flush();
        HYBREC_CHECK(out.good(), kKind, " ", temp, ": write failed");
      },
      kKind);
}

// The run directory of a checkpoint root (DIR of DIR/checkpoints).
std::string run_dir_of(const std::string& checkpoint_root) {
  fs::path root = fs::absolute(checkpoint_root).lexically_normal();
  if (!root.has_filename()) root = root.parent_path();  // "DIR/checkpoints/"
  return root.parent_path().string();
}

// What a file of `version` recorded as ps_dir, for the current directory.
// Version 1 recorded the path as the training command saw it: absolute
// paths keep working; a relative one that ends in the default "ps" is the
// run's own DIR/ps (the only reading that does not depend on the directory
// the reader runs in); any other relative one is kept as it was read.
std::string resolve_ps_dir(const std::string& recorded, int64_t version,
                           const std::string& run_dir) {
  if (recorded.empty() || fs::path(recorded).is_absolute()) return recorded;
  if (version >= 2) return path_from_run_dir(recorded, run_dir);
  if (fs::path(recorded).lexically_normal().filename() == "ps") {
    return (fs::path(run_dir) / "ps").string();
  }
  return recorded;
}

int64_t parse_step_name(const std::string& name, const fs::path& latest) {
  HYBREC_CHECK(name.rfind("step-", 0) == 0 && name.find('/') == std::string::npos &&
                   name.size() > 5 && name.find_first_not_of("0123456789", 5) == std::string::npos,
               kKind, " ", latest.string(), ": does not name a step directory ('", name, "')");
  return std::stoll(name.substr(5));
}

}  // namespace

std::string step_dir_name(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%06lld", static_cast<long long>(step));
  return name;
}

std::string write_trainer_checkpoint(const std::string& checkpoint_root, const TrainerState& s,
                                     const std::string& config_toml) {
  const fs::path dir = fs::path(checkpoint_root) / step_dir_name(s.step);
  fs::create_directories(dir);
  const std::string path = (dir / "trainer.h5").string();
  storage::write_atomically(
      path,
      [&](const std::string& temp) {
        h5::Lock lock(kKind);
        h5::Handle file = h5::open_file_handle(
            H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "H5Fcreate", temp);
        h5::write_int_attr(file, "format_version", kTrainerCheckpointVersion, temp);
        h5::write_int64_attr(file, "step", s.step, temp);
        h5::write_int64_attr(file, "ranks", s.ranks, temp);
        h5::write_int64_attr(file, "ps_version", s.ps_version, temp);
        const std::string ps_dir = path_for_run_dir(s.ps_dir, run_dir_of(checkpoint_root));
        h5::write_string_attr(file, "ps_dir", ps_dir.empty() ? std::string(" ") : ps_dir, temp);
        h5::write_string_attr(file, "ps_run", s.ps_run.empty() ? std::string(" ") : s.ps_run, temp);
        h5::write_int64_attr(file, "best_step", s.best_step, temp);
        h5::write_double_attr(file, "best_metric", s.best_metric, temp);
        h5::write_int64_attr(file, "evals_since_best", s.evals_since_best, temp);
        h5::write_int64_attr(file, "adam_step", s.adam_step, temp);
        if (!s.stream_url.empty()) {
          h5::write_string_attr(file, "stream_url", s.stream_url, temp);
          h5::write_int64_attr(file, "stream_position", s.stream_position, temp);
          h5::write_int64_attr(file, "stream_events", s.stream_events, temp);
          h5::write_int64_attr(file, "stream_new_items", s.stream_new_items, temp);
          h5::write_int64_attr(file, "catalogue_items", s.catalogue_items, temp);
        }
        write_vector(file, "params", s.params, temp);
        write_vector(file, "adam_m", s.adam_m, temp);
        write_vector(file, "adam_v", s.adam_v, temp);
        h5::check_status(H5Fflush(file, H5F_SCOPE_LOCAL), "H5Fflush", temp);
        h5::check_status(file.close(), "H5Fclose", temp);
      },
      kKind);
  write_text((dir / "config.toml").string(), config_toml);
  return dir.string();
}

int64_t latest_step(const std::string& checkpoint_root) {
  const fs::path latest = fs::path(checkpoint_root) / "latest";
  std::ifstream in(latest);
  if (!in.good()) return -1;
  std::string name;
  std::getline(in, name);
  return parse_step_name(name, latest);
}

void mark_latest(const std::string& checkpoint_root, int64_t step) {
  const int64_t current = latest_step(checkpoint_root);
  HYBREC_CHECK(current <= step, kKind, " ", (fs::path(checkpoint_root) / "latest").string(),
               " names ", step_dir_name(current), "; refusing to move it back to the older ",
               step_dir_name(step), " (latest never moves backwards)");
  write_text((fs::path(checkpoint_root) / "latest").string(), step_dir_name(step) + "\n");
}

void mark_best(const std::string& checkpoint_root, int64_t step) {
  write_text((fs::path(checkpoint_root) / "best").string(), step_dir_name(step) + "\n");
}

namespace {

// The step directory a pointer file (`latest`, `best`) names, or "".
std::string pointed_checkpoint(const std::string& checkpoint_root, const char* pointer) {
  const fs::path file = fs::path(checkpoint_root) / pointer;
  std::ifstream in(file);
  if (!in.good()) return "";
  std::string name;
  std::getline(in, name);
  parse_step_name(name, file);
  const fs::path dir = fs::path(checkpoint_root) / name;
  HYBREC_CHECK(fs::exists(dir / "trainer.h5"), kKind, " ", file.string(), " names ", dir.string(),
               ", which has no trainer.h5");
  return dir.string();
}

}  // namespace

void prune_trainer_checkpoints(const std::string& checkpoint_root,
                               const std::vector<int64_t>& keep) {
  std::error_code ec;
  std::vector<fs::path> doomed;
  for (const auto& entry : fs::directory_iterator(checkpoint_root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step-", 0) != 0 || !entry.is_directory()) continue;
    char* end = nullptr;
    const long long step = std::strtoll(name.c_str() + 5, &end, 10);
    if (*end != '\0' || std::find(keep.begin(), keep.end(), step) != keep.end()) continue;
    doomed.push_back(entry.path());
  }
  for (const fs::path& dir : doomed) {
    fs::remove_all(dir, ec);
    HYBREC_CHECK(!ec, kKind, ": cannot delete ", dir.string(), " (retention): ", ec.message());
  }
}

std::string latest_checkpoint(const std::string& checkpoint_root) {
  return pointed_checkpoint(checkpoint_root, "latest");
}

std::string result_checkpoint(const std::string& checkpoint_root) {
  const std::string best = pointed_checkpoint(checkpoint_root, "best");
  return best.empty() ? latest_checkpoint(checkpoint_root) : best;
}

TrainerState read_trainer_checkpoint(const std::string& step_dir) {
  const std::string path = (fs::path(step_dir) / "trainer.h5").string();
  HYBREC_CHECK(fs::exists(path), kKind, " ", path, ": no such file");
  h5::Lock lock(kKind);
  h5::Handle file =
      h5::open_file_handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "H5Fopen", path);
  const int64_t version = h5::read_int_attr(file, "format_version", path, "root");
  HYBREC_CHECK(version >= kOldestReadableVersion && version <= kTrainerCheckpointVersion, kKind,
               " ", path, ": format version ", version, ", this build reads ",
               kOldestReadableVersion, " to ", kTrainerCheckpointVersion);
  TrainerState s;
  s.step = h5::read_int_attr(file, "step", path, "root");
  s.ranks = h5::read_int_attr(file, "ranks", path, "root");
  s.ps_version = h5::read_int_attr(file, "ps_version", path, "root");
  s.ps_dir = h5::read_string_attr(file, "ps_dir", path, "root");
  if (s.ps_dir == " ") s.ps_dir.clear();
  fs::path step = fs::absolute(step_dir).lexically_normal();
  if (!step.has_filename()) step = step.parent_path();  // "step-000010/"
  s.ps_dir = resolve_ps_dir(s.ps_dir, version, run_dir_of(step.parent_path().string()));
  s.format_version = version;
  if (H5Aexists(file, "ps_run") > 0) s.ps_run = h5::read_string_attr(file, "ps_run", path, "root");
  if (s.ps_run == " ") s.ps_run.clear();
  s.best_step = h5::read_int_attr(file, "best_step", path, "root");
  s.best_metric = h5::read_double_attr(file, "best_metric", path, "root");
  s.evals_since_best = h5::read_int_attr(file, "evals_since_best", path, "root");
  s.adam_step = h5::read_int_attr(file, "adam_step", path, "root");
  if (H5Aexists(file, "stream_url") > 0) {
    s.stream_url = h5::read_string_attr(file, "stream_url", path, "root");
    s.stream_position = h5::read_int_attr(file, "stream_position", path, "root");
    s.stream_events = h5::read_int_attr(file, "stream_events", path, "root");
    s.stream_new_items = h5::read_int_attr(file, "stream_new_items", path, "root");
    s.catalogue_items = h5::read_int_attr(file, "catalogue_items", path, "root");
  }
  h5::Extent extent;
  { h5::Handle p = h5::open_dataset(file, "params", H5T_FLOAT, 1, path, "root", &extent); }
  s.params = read_vector(file, "params", extent.rows, path);
  s.adam_m = read_vector(file, "adam_m", extent.rows, path);
  s.adam_v = read_vector(file, "adam_v", extent.rows, path);
  return s;
}

}  // namespace hybrec::trainer

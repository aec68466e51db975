#include "parameter_server/store/snapshot_dirs.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "parameter_server/store/checkpoint_files.h"
#include "parameter_server/wire/errors.h"

namespace hybrec::ps {

namespace fs = std::filesystem;

namespace {

// "shard-00001-of-00002.h5": this shard's file name prefix, any count.
std::string shard_file_prefix(int index) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "shard-%05d-of-", index);
  return buf;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Whether name is a temporary (storage::write_atomically's ".tmp-<pid>.<n>")
// of a file this shard writes.
bool own_temporary(const std::string& name, ShardId shard) {
  if (name.find(".tmp-") == std::string::npos) return false;
  if (starts_with(name, shard_file_prefix(shard.index))) return true;
  return shard.index == 0 && starts_with(name, std::string(kManifestName) + ".tmp-");
}

// The version of a "v<digits>" directory name, or -1.
int64_t version_of(const std::string& name) {
  if (name.size() < 2 || name.size() > 19 || name[0] != 'v') return -1;
  int64_t v = 0;
  for (size_t i = 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

}  // namespace

void check_run_id(const std::string& run) {
  const bool ok =
      !run.empty() && run.size() <= 64 && std::all_of(run.begin(), run.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
      });
  if (!ok) {
    HYBREC_PS_REJECT(ErrorCode::kBadRequest, "run id '", run.substr(0, 80),
                     "' must be 1 to 64 of A-Z, a-z, 0-9, '_' and '-'");
  }
}

std::string run_snapshot_root(const std::string& root, const std::string& run) {
  check_run_id(run);
  return (fs::path(root) / "runs" / run).string();
}

int64_t remove_stale_temporaries(const std::string& root, ShardId shard) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return 0;
  int64_t freed = 0;
  // Snapshots sit at most three levels down (runs/<run>/v<version>/).
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() > 3) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec) || !own_temporary(it->path().filename().string(), shard)) {
      continue;
    }
    const auto size = static_cast<int64_t>(it->file_size(ec));
    std::error_code removed;
    if (fs::remove(it->path(), removed)) freed += size;
  }
  return freed;
}

std::vector<int64_t> prune_run_snapshots(const std::string& root, const std::string& run,
                                         ShardId shard, const std::vector<int64_t>& keep) {
  const fs::path dir = run_snapshot_root(root, run);
  std::vector<int64_t> deleted;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return deleted;
  std::vector<fs::path> doomed;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const int64_t v = version_of(entry.path().filename().string());
    if (v < 0 || std::find(keep.begin(), keep.end(), v) != keep.end()) continue;
    doomed.push_back(entry.path());
  }
  for (const fs::path& snapshot : doomed) {
    std::vector<fs::path> mine;
    for (const auto& file : fs::directory_iterator(snapshot, ec)) {
      const std::string name = file.path().filename().string();
      if (starts_with(name, shard_file_prefix(shard.index)) ||
          (shard.index == 0 && name == kManifestName)) {
        mine.push_back(file.path());
      }
    }
    for (const fs::path& file : mine) {
      std::error_code removed;
      fs::remove(file, removed);
      if (removed) {
        HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "cannot delete ", file.string(), ": ",
                         removed.message());
      }
    }
    std::error_code not_empty;  // other shards' files still there: theirs to delete
    fs::remove(snapshot, not_empty);
    deleted.push_back(version_of(snapshot.filename().string()));
  }
  std::sort(deleted.begin(), deleted.end());
  return deleted;
}

}  // namespace hybrec::ps

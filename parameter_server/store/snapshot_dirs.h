// Where a shard's snapshots live under its checkpoint root, and the
// housekeeping of that tree: run namespaces, stale temporaries, retention.
//
// Layout under --checkpoint-dir:
//   latest/                   the shard's own periodic and final snapshot
//   runs/<run>/v<version>/    a trainer's save(run, version)
// A run id is 1-64 of [A-Za-z0-9_-], so it is always one safe path
// component, and two runs sharing servers never write the same directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parameter_server/store/checkpoint.h"

namespace hybrec::ps {

// Throws RequestError(kBadRequest) naming the problem unless run is a valid
// run id.
void check_run_id(const std::string& run);

// <root>/runs/<run>: the root that checkpoint_name(version) is under.
std::string run_snapshot_root(const std::string& root, const std::string& run);

// Removes the temporary files this shard's interrupted writes left
// anywhere under root (a kill -9 during a save leaves its .tmp- file behind):
// its own shard files' and, on shard 0, the manifests'. Only call it while
// this shard is not writing (at start, or after a failed save under the
// checkpoint lock): another shard's temporaries are never touched. Returns
// the bytes freed.
int64_t remove_stale_temporaries(const std::string& root, ShardId shard);

// Deletes this shard's files of every snapshot of run whose version is not
// in keep (and, on shard 0, their manifests; a directory left empty goes
// too). Returns the versions deleted. Throws RequestError(kCheckpoint) on a
// failure to delete.
std::vector<int64_t> prune_run_snapshots(const std::string& root, const std::string& run,
                                         ShardId shard, const std::vector<int64_t>& keep);

}  // namespace hybrec::ps

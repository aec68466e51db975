// Checkpoints of a sharded parameter server: one HDF5 file per shard plus a
// manifest, under the server's own checkpoint root.
//
// Layout: <root>/<name>/shard-<index>-of-<count>.h5 and <root>/<name>/MANIFEST,
// where <name> is "v<version>" for an explicit save(run, version) (under the
// root runs/<run>/, snapshot_dirs.h) and "latest" for the periodic and final
// checkpoints a shard takes on its own.
//
// Shard file: root attributes format_version, version, shard_index,
// num_shards; one group per table /tables/<name> with the spec as attributes
// (dim, optimizer, learning_rate, eps, beta1, beta2, weight_decay,
// init_scale, seed, and the bounds max_rows, admit_after, ttl_s, which files
// written before them lack: read as none) and three datasets: keys int64
// [n], rows float32 [n, dim], state float32 [n, state_floats] (absent for
// SGD). The routing is not stored: a loaded table is routed over the loading
// shard count. A row and its state come
// from one RowTable::snapshot copy, so they are never torn.
//
// Manifest: written by shard 0; plain "key value" lines naming the format,
// version and the shard count, so a load can tell a complete checkpoint from
// one that lacks a shard's file.
//
// Every file is written under a temporary name in the same directory,
// flushed to disk and renamed, so a crash leaves either the old file or the
// new one, never half of one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "parameter_server/store/row_store.h"
#include "parameter_server/wire/slicer.h"

namespace hybrec::ps {

struct ShardId {
  int index = 0;
  int count = 1;
};

// "v<version>" (version >= 0; throws RequestError(kCheckpoint) otherwise).
std::string checkpoint_name(int64_t version);
inline constexpr const char* kLatestCheckpoint = "latest";

// Writes this shard's file (and, on shard 0, the manifest) of checkpoint
// <root>/<name>, creating directories as needed. name is one path component;
// version >= 0, or -1 for a "latest" checkpoint of a shard that never saved
// or loaded a version. Pushes may continue while it
// runs. Throws RequestError(kCheckpoint) naming the path on any failure, and
// then leaves any earlier file of that name untouched.
void write_checkpoint(const std::string& root, const std::string& name, int64_t version,
                      ShardId shard, const RowStore& store);

// Whether <root>/<name> has a manifest (a checkpoint was started there).
bool checkpoint_exists(const std::string& root, const std::string& name);

// Whether a shard of shard.count would find nothing of its own in
// checkpoint <root>/<name>: the manifest names the same shard count but this
// shard's file is absent. Shards write "latest" on their own clocks, so a
// shard that starts after another shard's first periodic checkpoint meets
// exactly this; it has no rows to restore. (With another shard count every
// file is needed, and a missing one is an error on load.)
bool shard_never_saved(const std::string& root, const std::string& name, ShardId shard);

struct LoadedCheckpoint {
  std::unique_ptr<RowStore> store;
  int64_t version = -1;
  int written_by_shards = 0;  // the shard count that wrote it
};

// Reads checkpoint <root>/<name> into a new store holding exactly the keys
// that `slicer` routes to `shard.index` (slicer.num_shards() == shard.count).
// Written by the same shard count: only this shard's file is read. Written
// by another count: every file is read and filtered (resharding), so the
// files of all shards must be visible under root.
// With the same shard count, a key in this shard's file that the slicer
// routes elsewhere is an error (only that file is read, so dropping it would
// lose the row silently).
// Validates: the manifest exists and every shard file it implies is present
// and agrees with it (format, version, shard index and count); each table's
// spec is the same in every file; and each table that also exists in
// `current` has the same dim and optimizer there (the checkpoint's other
// settings, learning rate, seed and so on, replace the current ones). Throws
// RequestError(kCheckpoint) naming the file and the mismatch.
LoadedCheckpoint read_checkpoint(const std::string& root, const std::string& name, ShardId shard,
                                 const Slicer& slicer, const RowStore& current);

}  // namespace hybrec::ps

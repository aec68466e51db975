// The plain-file side of checkpoints: durable atomic replacement of a file
// (write a temporary, fsync, rename, fsync the directory) and the MANIFEST
// that shard 0 writes into a checkpoint directory. See checkpoint.h for the
// layout. Every failure throws RequestError(kCheckpoint) naming the path
// (or, for another kind of file, hybrec::Error).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace hybrec::ps {

// The checkpoint format this server writes and reads, recorded in the
// manifest and in every shard file.
inline constexpr int kCheckpointFormatVersion = 1;

// The manifest's file name inside a checkpoint directory.
inline constexpr const char* kManifestName = "MANIFEST";

// Opens `path` (a directory if `directory`) and fsyncs it, so that its
// data, or for a directory its entries, are on disk. `kind` names the kind
// of file in messages; for any kind but "checkpoint" failures throw a plain
// hybrec::Error instead of RequestError(kCheckpoint).
void fsync_path(const std::string& path, bool directory, const char* kind = "checkpoint");

// Runs write(temp) for a fresh temporary path next to final_path (unique
// within this process and among processes), then fsyncs temp, renames it
// to final_path and fsyncs the directory: final_path is replaced, durably,
// by a fully written file or not at all. On any failure, including one
// thrown by `write`, removes temp and rethrows, leaving whatever final_path
// held before. `kind` names the kind of file in messages, as for
// fsync_path (datasets are written through here too).
void write_atomically(const std::string& final_path,
                      const std::function<void(const std::string& temp)>& write,
                      const char* kind = "checkpoint");

// What a checkpoint's manifest records.
struct Manifest {
  int64_t version = -1;
  int num_shards = 0;
};

// Atomically writes <dir>/MANIFEST recording kCheckpointFormatVersion,
// `version` and `num_shards`.
void write_manifest(const std::string& dir, int64_t version, int num_shards);

// Reads and validates <dir>/MANIFEST: present, at most 4 KiB, only the
// known "key value" lines, each exactly once, of format
// kCheckpointFormatVersion, with version >= -1 and num_shards in
// [1, 99999].
Manifest read_manifest(const std::string& dir);

}  // namespace hybrec::ps

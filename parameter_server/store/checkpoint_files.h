// The plain-file side of checkpoints: the MANIFEST that shard 0 writes into
// a checkpoint directory (see checkpoint.h for the layout), and the mapping
// of the storage layer's file errors to the CHECKPOINT request error. Every
// failure throws RequestError(kCheckpoint) naming the path.
#pragma once

#include <cstdint>
#include <string>

#include "parameter_server/storage/file_error.h"
#include "parameter_server/wire/errors.h"

namespace hybrec::ps {

// The checkpoint format this server writes and reads, recorded in the
// manifest and in every shard file.
inline constexpr int kCheckpointFormatVersion = 1;

// The manifest's file name inside a checkpoint directory.
inline constexpr const char* kManifestName = "MANIFEST";

// Runs fn(); a storage::FileError thrown by it (a snapshot file that could
// not be read or written) becomes RequestError(kCheckpoint) with the same
// message, so the server answers the client with CHECKPOINT and keeps
// serving. Every public checkpoint function runs its body through this.
template <typename Fn>
auto as_checkpoint_error(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const storage::FileError& e) {
    throw RequestError(ErrorCode::kCheckpoint, e.what(), e.file(), e.line());
  }
}

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

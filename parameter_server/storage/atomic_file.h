// Durable atomic replacement of a file: write a temporary, fsync it, rename
// it over the final path, fsync the directory. Used for every file hybrec
// writes that must never be seen half-written (datasets, trainer
// checkpoints, parameter-server snapshots and their manifests).
//
// Every failure throws storage::FileError naming `kind`, the call and the
// path.
#pragma once

#include <functional>
#include <string>

namespace hybrec::storage {

// Opens `path` (a directory if `directory`) and fsyncs it, so that its
// data, or for a directory its entries, are on disk. `kind` names the kind
// of file in messages.
void fsync_path(const std::string& path, bool directory, const char* kind);

// Runs write(temp) for a fresh temporary path next to final_path (unique
// within this process and among processes), then fsyncs temp, renames it
// to final_path and fsyncs the directory: final_path is replaced, durably,
// by a fully written file or not at all. On any failure, including one
// thrown by `write`, removes temp and rethrows, leaving whatever final_path
// held before.
void write_atomically(const std::string& final_path,
                      const std::function<void(const std::string& temp)>& write, const char* kind);

}  // namespace hybrec::storage

#include "parameter_server/storage/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>

#include "parameter_server/storage/file_error.h"

namespace hybrec::storage {

namespace {

namespace fs = std::filesystem;

// "<kind>: <call> <path> failed: <strerror>".
[[noreturn]] void fail_errno(const char* call, const std::string& path, const char* kind) {
  const int err = errno;
  throw FileError(kind, path,
                  detail::concat(kind, ": ", call, " ", path, " failed: ", std::strerror(err)),
                  __FILE__, __LINE__);
}

std::string temp_path_for(const std::string& final_path) {
  // The counter keeps two writers of one process (a periodic and a final
  // "latest", say) off each other's temporary file.
  static std::atomic<uint64_t> sequence{0};
  return final_path + ".tmp-" + std::to_string(::getpid()) + "." +
         std::to_string(sequence.fetch_add(1));
}

// Makes a fully written temporary file the final one: its data reaches the
// disk before the rename, and the rename reaches it before we return.
void commit_file(const std::string& temp, const std::string& final_path, const char* kind) {
  fsync_path(temp, false, kind);
  if (::rename(temp.c_str(), final_path.c_str()) != 0) {
    fail_errno("rename", temp + " to " + final_path, kind);
  }
  // A bare file name lives in the working directory, whose entries are
  // what the rename changed.
  const std::string dir = fs::path(final_path).parent_path().string();
  fsync_path(dir.empty() ? "." : dir, true, kind);
}

}  // namespace

void fsync_path(const std::string& path, bool directory, const char* kind) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) fail_errno("open for fsync", path, kind);
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    fail_errno("fsync", path, kind);
  }
  ::close(fd);
}

void write_atomically(const std::string& final_path,
                      const std::function<void(const std::string& temp)>& write, const char* kind) {
  const std::string temp = temp_path_for(final_path);
  try {
    write(temp);
    commit_file(temp, final_path, kind);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw;
  }
}

}  // namespace hybrec::storage

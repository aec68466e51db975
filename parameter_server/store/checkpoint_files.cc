#include "parameter_server/store/checkpoint_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "parameter_server/storage/atomic_file.h"
#include "parameter_server/wire/errors.h"

namespace hybrec::ps {

namespace {

namespace fs = std::filesystem;

constexpr const char* kCheckpointKind = "checkpoint";
constexpr const char* kManifestMagic = "hybrec-checkpoint";
// A manifest is three short lines; anything much longer is not one.
constexpr size_t kMaxManifestBytes = 4096;

// "checkpoint: <call> <path> failed: <strerror>".
[[noreturn]] void fail_errno(const char* call, const std::string& path) {
  const int err = errno;
  HYBREC_PS_REJECT(ErrorCode::kCheckpoint, kCheckpointKind, ": ", call, " ", path,
                   " failed: ", std::strerror(err));
}

}  // namespace

void write_manifest(const std::string& dir, int64_t version, int num_shards) {
  const std::string path = dir + "/" + kManifestName;
  const std::string text =
      std::string(kManifestMagic) + " " + std::to_string(kCheckpointFormatVersion) + "\nversion " +
      std::to_string(version) + "\nnum_shards " + std::to_string(num_shards) + "\n";
  as_checkpoint_error([&] {
    storage::write_atomically(
        path,
        [&](const std::string& temp) {
          const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
          if (fd < 0) fail_errno("open", temp);
          size_t done = 0;
          while (done < text.size()) {
            const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
              const int err = errno;
              ::close(fd);
              errno = err;
              fail_errno("write", temp);
            }
            done += static_cast<size_t>(n);
          }
          if (::close(fd) != 0) fail_errno("close", temp);
        },
        kCheckpointKind);
  });
}

Manifest read_manifest(const std::string& dir) {
  const std::string path = dir + "/" + kManifestName;
  std::error_code ec;
  const bool is_file = fs::is_regular_file(path, ec);
  if (!is_file) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint ", dir, " has no ", kManifestName,
                     " (no checkpoint there, or shard 0 never finished writing it)");
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_errno("open", path);
  std::string text(kMaxManifestBytes + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      errno = err;
      fail_errno("read", path);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > kMaxManifestBytes) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint manifest ", path, " is larger than ",
                     kMaxManifestBytes, " bytes: not a manifest");
  }
  text.resize(got);

  std::map<std::string, int64_t> fields;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    const std::string key = line.substr(0, space);
    const std::string value = space == std::string::npos ? "" : line.substr(space + 1);
    char* parse_end = nullptr;
    errno = 0;
    const long long number = std::strtoll(value.c_str(), &parse_end, 10);
    const bool known = key == kManifestMagic || key == "version" || key == "num_shards";
    if (!known || value.empty() || errno != 0 || *parse_end != '\0' || fields.count(key) != 0) {
      HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint manifest ", path, " line ", line_no,
                       ": unexpected '", line.substr(0, 80), "'");
    }
    fields[key] = number;
  }
  for (const char* key : {kManifestMagic, "version", "num_shards"}) {
    if (fields.count(key) == 0) {
      HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint manifest ", path, " lacks '", key, "'");
    }
  }
  if (fields[kManifestMagic] != kCheckpointFormatVersion) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint manifest ", path, ": format ",
                     fields[kManifestMagic], ", this server reads format ",
                     kCheckpointFormatVersion);
  }
  Manifest manifest;
  manifest.version = fields["version"];
  if (manifest.version < -1 || fields["num_shards"] < 1 || fields["num_shards"] > 99999) {
    HYBREC_PS_REJECT(ErrorCode::kCheckpoint, "checkpoint manifest ", path, ": version ",
                     manifest.version, " or num_shards ", fields["num_shards"], " out of range");
  }
  manifest.num_shards = static_cast<int>(fields["num_shards"]);
  return manifest;
}

}  // namespace hybrec::ps

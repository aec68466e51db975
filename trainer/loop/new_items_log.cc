#include "trainer/loop/new_items_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "hybrec/kernels/error.h"
#include "parameter_server/storage/atomic_file.h"

namespace hybrec::trainer {

namespace fs = std::filesystem;

namespace {
constexpr const char* kKind = "new items log";
}

NewItemsLog::NewItemsLog(const std::string& run_dir, int64_t keep)
    : path_((fs::path(run_dir) / "online" / "new_items.jsonl").string()) {
  fs::create_directories(fs::path(path_).parent_path());
  std::vector<std::string> lines;
  {
    std::ifstream in(path_, std::ios::binary);
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
  }
  HYBREC_CHECK(static_cast<int64_t>(lines.size()) >= keep, kKind, " ", path_, ": holds ",
               lines.size(), " items, but the checkpoint resumed from records ", keep);
  if (static_cast<int64_t>(lines.size()) > keep || !fs::exists(path_)) {
    storage::write_atomically(
        path_,
        [&](const std::string& temp) {
          std::ofstream out(temp, std::ios::binary | std::ios::trunc);
          for (int64_t i = 0; i < keep; ++i) out << lines[static_cast<std::size_t>(i)] << '\n';
          out.flush();
          HYBREC_CHECK(out.good(), kKind, " ", temp, ": write failed");
        },
        kKind);
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  HYBREC_CHECK(fd_ >= 0, kKind, " ", path_, ": cannot open (", std::strerror(errno), ")");
}

NewItemsLog::~NewItemsLog() {
  if (fd_ >= 0) ::close(fd_);
}

void NewItemsLog::append(int64_t item, const std::string& text, const float* emb, int64_t dim) {
  nlohmann::json line;
  line["item"] = item;
  line["text"] = text;
  line["emb"] = std::vector<float>(emb, emb + dim);
  const std::string bytes = line.dump() + "\n";
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    HYBREC_CHECK(n > 0, kKind, " ", path_, ": write failed (", std::strerror(errno), ")");
    done += static_cast<std::size_t>(n);
  }
  HYBREC_CHECK(::fsync(fd_) == 0, kKind, " ", path_, ": fsync failed (", std::strerror(errno), ")");
}

}  // namespace hybrec::trainer

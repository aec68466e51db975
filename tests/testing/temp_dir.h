// A fresh temporary directory for one test, removed with its contents by the
// destructor. Shared by every suite that writes files.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace hybrec::testing {

class TempDir {
 public:
  // Creates <system temp dir>/<prefix>-<unique suffix chosen by mkdtemp>.
  explicit TempDir(const std::string& prefix = "hybrec-test") {
    std::string name = (std::filesystem::temp_directory_path() / prefix).string();
    name += "-XXXXXX";  // mkdtemp's template: it replaces the six X's
    if (::mkdtemp(name.data()) == nullptr) {
      throw std::runtime_error("TempDir: mkdtemp(" + name + ") failed");
    }
    path_ = name;
  }
  ~TempDir() {
    // A test may have taken write permission away (to make a write fail).
    std::error_code ignored;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ignored);
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name, as a string (for command lines and file names).
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  std::string file(const std::string& name) const { return *this / name; }

 private:
  std::string path_;
};

}  // namespace hybrec::testing

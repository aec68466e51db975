// Helpers shared by the parameter-server test suites.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "parameter_server/table_spec.h"

namespace hybrec::ps::testing {

// A table spec whose SGD steps are exact in float for small integer
// gradients (learning rate 0.5), with small random initial rows.
inline TableSpec test_spec(const std::string& name, int dim, Optimizer optimizer,
                           int64_t seed = 7) {
  TableSpec s;
  s.name = name;
  s.dim = dim;
  s.optimizer = optimizer;
  s.learning_rate = 0.5;
  s.init_scale = 0.1;
  s.seed = seed;
  return s;
}

// Wire payloads packed the way clients send them (payload.h reads them).
inline std::string pack_keys(const int64_t* keys, int64_t n) {
  return std::string(reinterpret_cast<const char*>(keys), static_cast<size_t>(n) * 8);
}
inline std::string pack_floats(const float* values, int64_t n) {
  return std::string(reinterpret_cast<const char*>(values), static_cast<size_t>(n) * 4);
}

// A fresh temporary directory, removed with its contents by the destructor.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/hybrec-ps-test-XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace hybrec::ps::testing

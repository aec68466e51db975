// Helpers shared by the parameter-server test suites.
#pragma once

#include <string>

#include "parameter_server/wire/table_spec.h"
#include "testing/temp_dir.h"

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

using hybrec::testing::TempDir;

}  // namespace hybrec::ps::testing

// The fuzz test's tables and keys; see tables.h.
#include "tables.h"

namespace hybrec::ps::fuzz {

TableSpec items_spec() {
  TableSpec s;
  s.name = kTable;
  s.dim = kDim;
  s.optimizer = Optimizer::kRowwiseAdagrad;
  s.learning_rate = 0.05;
  s.init_scale = 0.01;
  s.seed = 7;
  return s;
}

TableSpec fuzz_spec() {
  TableSpec s;
  s.name = kFuzzTable;
  s.dim = kFuzzDim;
  s.optimizer = Optimizer::kSgd;
  s.learning_rate = 0.1;
  s.seed = 3;
  return s;
}

std::vector<int64_t> snapshot_keys() {
  std::vector<int64_t> keys(kNumKeys);
  keys[0] = 0;
  keys[1] = -1;
  keys[2] = INT64_MAX;
  keys[3] = INT64_MIN;
  for (int i = 4; i < kNumKeys; ++i) keys[i] = static_cast<int64_t>(splitmix64(i));
  return keys;
}

ClientOptions client_options() {
  ClientOptions o;
  o.max_frame_bytes = kMaxFrame;
  o.io_timeout_ms = 20000;
  o.max_attempts = 3;
  return o;
}

}  // namespace hybrec::ps::fuzz

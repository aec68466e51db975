// The fixed setup of the parameter-server fuzz test (tests/ps/fuzz_test.cc):
// frame and row sizes, the real table whose rows must survive ("items") and
// the table the fuzzing may touch, the keys whose rows are snapshotted, and
// the options of the ordinary client that sets them up and checks them.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "hybrec/kernels/splitmix.h"
#include "parameter_server/client/client.h"
#include "parameter_server/wire/table_spec.h"

namespace hybrec::ps::fuzz {

using Clock = std::chrono::steady_clock;
using Rng = std::mt19937_64;

constexpr int kMaxFrameMib = 4;
constexpr int64_t kMaxFrame = int64_t{kMaxFrameMib} << 20;
constexpr int kDim = 16;
constexpr int kNumKeys = 1000;
constexpr int kFuzzDim = 4;
inline const std::string kTable = "items";
// No small mutation turns it into kTable (and it holds no 'm', see the top of
// fuzz_test.cc).
inline const std::string kFuzzTable = "zzzzzzzzzzzz-fuzz";
// The run id the test's own snapshot is saved under, before any fuzzing;
// the server must hold exactly that snapshot when the fuzzing is over.
inline const std::string kRealRun = "real";
// Run ids the fuzz frames' save/load name: none is valid (a valid load
// would legitimately replace the rows under test), so each must be refused
// with BAD_REQUEST and write nothing.
inline const std::string kBadRuns[] = {"", "../up", "a/b", "zzz zzz", std::string(65, 'z')};

TableSpec items_spec();
TableSpec fuzz_spec();

// Spread over the whole int64 range, negatives and zero included.
std::vector<int64_t> snapshot_keys();

// What the checked connections compare against: the keys and their rows
// (raw float32 bytes) before any fuzzing.
struct Snapshot {
  std::vector<int64_t> keys;
  std::string rows;
};

ClientOptions client_options();

}  // namespace hybrec::ps::fuzz

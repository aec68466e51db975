// Shared by the checkpoint suites: table specs and keys, training rows into
// a table, bit-exact comparisons, raw file bytes, and the fixture that owns a
// temporary checkpoint root.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "parameter_server/store/checkpoint.h"
#include "parameter_server/wire/errors.h"
#include "parameter_server/wire/row_init.h"
#include "parameter_server/wire/row_update.h"
#include "testing/temp_dir.h"

namespace hybrec::ps::checkpoint_testing {

namespace fs = std::filesystem;

inline TableSpec make_spec(const std::string& name, int32_t dim, Optimizer optimizer,
                           int64_t seed = 7) {
  TableSpec spec;
  spec.name = name;
  spec.dim = dim;
  spec.optimizer = optimizer;
  spec.learning_rate = 0.05;
  spec.weight_decay = optimizer == Optimizer::kAdam ? 0.01 : 0.0;
  spec.init_scale = 0.1;
  spec.seed = seed;
  return spec;
}

// Keys that exercise the whole int64 range, negatives and the extremes
// included, plus a dense run.
inline std::vector<int64_t> test_keys(int64_t dense) {
  std::vector<int64_t> keys;
  for (int64_t k = 0; k < dense; ++k) keys.push_back(k);
  for (int64_t k : {int64_t{-1}, int64_t{-123456789}, INT64_MIN, INT64_MAX, int64_t{1} << 40}) {
    keys.push_back(k);
  }
  return keys;
}

// `rounds` pushes of random gradients to every key.
inline void train(RowTable& table, const std::vector<int64_t>& keys, int rounds, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> grads(keys.size() * static_cast<size_t>(table.dim()));
  for (int r = 0; r < rounds; ++r) {
    for (float& g : grads) g = uniform(rng);
    table.push(keys.data(), static_cast<int64_t>(keys.size()), grads.data());
  }
}

// Pulls keys never pushed: initialised rows with zero state.
inline void pull_fresh(RowTable& table) {
  const std::vector<int64_t> fresh = {1000003, 1000033, -1000037};
  std::vector<float> rows(fresh.size() * static_cast<size_t>(table.dim()));
  table.pull(fresh.data(), static_cast<int64_t>(fresh.size()), rows.data());
}

inline std::set<int64_t> keys_of(const RowTable& table) {
  std::set<int64_t> keys;
  table.snapshot([&](const int64_t* k, const float*, int64_t n) { keys.insert(k, k + n); });
  return keys;
}

inline std::vector<float> slot_of(const RowTable& table, int64_t key) {
  std::vector<float> slot(static_cast<size_t>(table.slot_floats()));
  EXPECT_TRUE(table.find(key, slot.data())) << "key " << key << " missing";
  return slot;
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0;
}

// Same spec, same keys, every slot (row and state) bit-identical.
inline void expect_same_table(const RowTable& expected, const RowTable& actual) {
  EXPECT_EQ(expected.spec(), actual.spec()) << ps::describe(actual.spec());
  EXPECT_EQ(expected.size(), actual.size()) << expected.spec().name;
  EXPECT_EQ(keys_of(expected), keys_of(actual)) << expected.spec().name;
  for (int64_t key : keys_of(expected)) {
    EXPECT_TRUE(same_bits(slot_of(expected, key), slot_of(actual, key)))
        << "table " << expected.spec().name << " key " << key;
  }
}

// Expects fn to throw RequestError(kCheckpoint) whose message holds every
// needle.
template <typename Fn>
inline void expect_checkpoint_error(Fn&& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "expected RequestError(kCheckpoint)";
  } catch (const ps::RequestError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCheckpoint) << e.what();
    for (const std::string& needle : needles) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
          << "message \"" << e.what() << "\" lacks \"" << needle << "\"";
    }
  }
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class CheckpointTest : public ::testing::Test {
 protected:
  std::string file(const std::string& name, int index, int count) const {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "shard-%05d-of-%05d.h5", index, count);
    return root_ + "/" + name + "/" + buf;
  }

  ps::LoadedCheckpoint load(const std::string& name, ShardId shard,
                            const RowStore& current = RowStore()) const {
    JumpHashSlicer slicer(shard.count);
    return ps::read_checkpoint(root_, name, shard, slicer, current);
  }

  hybrec::testing::TempDir dir_{"hybrec-ckpt"};
  std::string root_ = dir_.path();
};

}  // namespace hybrec::ps::checkpoint_testing

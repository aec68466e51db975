// PsClient's pull_with_state and push_delta against two in-process shards
// on loopback (LocalServers): keys routed to both, repeats summed, one
// sequence shared with push, widths checked with typed errors.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "parameter_server/client/client.h"
#include "parameter_server/server/local_servers.h"
#include "parameter_server/wire/errors.h"
#include "ps_testing.h"

namespace hybrec::ps {
namespace {

constexpr int kDim = 4;
constexpr int kWidth = kDim + 1;  // row-wise Adagrad: one float of state

class ClientRowState : public ::testing::Test {
 protected:
  ClientRowState() : servers_(2, "", 64 << 20), client_(servers_.endpoints()) {
    client_.create_table(testing::test_spec("items", kDim, Optimizer::kRowwiseAdagrad));
    client_.create_table(testing::test_spec("plain", kDim, Optimizer::kSgd));
    for (int64_t k = 0; k < 20; ++k) keys_.push_back(k * 7 - 30);
  }

  std::vector<float> with_state(const std::vector<int64_t>& keys,
                                const std::string& table = "items", int64_t width = kWidth) {
    std::vector<float> out(keys.size() * width);
    client_
        .pull_with_state(table, keys.data(), static_cast<int64_t>(keys.size()), width, out.data())
        .wait();
    return out;
  }

  // Runs fn, expects RequestError with code whose message holds every needle.
  template <typename Fn>
  void expect_request_error(Fn fn, ErrorCode code, const std::vector<std::string>& needles) {
    try {
      fn();
      ADD_FAILURE() << "request accepted";
    } catch (const RequestError& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      for (const std::string& needle : needles) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
            << needle << " in: " << e.what();
      }
    }
  }

  LocalServers servers_;
  PsClient client_;
  std::vector<int64_t> keys_;
};

TEST_F(ClientRowState, PullWithStateIsTheRowThenItsStateOnEveryShard) {
  const int64_t n = static_cast<int64_t>(keys_.size());
  ASSERT_EQ(client_.num_shards(), 2);
  std::vector<float> grads(n * kDim);
  for (int64_t i = 0; i < n * kDim; ++i) grads[i] = 0.25f * static_cast<float>(i % 5) - 0.5f;
  client_.push("items", keys_.data(), n, kDim, grads.data()).wait();
  std::vector<float> rows(n * kDim);
  client_.pull("items", keys_.data(), n, kDim, rows.data()).wait();
  const std::vector<float> slots = with_state(keys_);
  for (int64_t i = 0; i < n; ++i) {
    double mean_square = 0;
    for (int j = 0; j < kDim; ++j) {
      EXPECT_EQ(slots[i * kWidth + j], rows[i * kDim + j]) << "key " << keys_[i];
      mean_square += grads[i * kDim + j] * grads[i * kDim + j] / kDim;
    }
    EXPECT_FLOAT_EQ(slots[i * kWidth + kDim], static_cast<float>(mean_square))
        << "key " << keys_[i];
  }
}

TEST_F(ClientRowState, PushDeltaAddsAndSumsTheDeltasOfARepeatedKey) {
  const std::vector<float> before = with_state(keys_);
  // Every key once, then the first three again.
  std::vector<int64_t> keys = keys_;
  keys.insert(keys.end(), keys_.begin(), keys_.begin() + 3);
  std::vector<float> deltas(keys.size() * kWidth);
  for (size_t i = 0; i < deltas.size(); ++i) deltas[i] = 0.125f * static_cast<float>(i % 9 + 1);
  client_.push_delta("items", keys.data(), static_cast<int64_t>(keys.size()), kWidth, deltas.data())
      .wait();
  std::vector<float> want = before;
  for (size_t i = 0; i < keys_.size(); ++i) {
    for (int j = 0; j < kWidth; ++j) {
      float delta = deltas[i * kWidth + j];
      if (i < 3) delta += deltas[(keys_.size() + i) * kWidth + j];  // summed by the client
      want[i * kWidth + j] += delta;
    }
  }
  EXPECT_EQ(with_state(keys_), want);
}

// If push_delta numbered its requests apart from push, its first would reuse
// push's sequence 1 and the shard would take it for a retry.
TEST_F(ClientRowState, PushesAndPushDeltasShareOneSequencePerShard) {
  const std::vector<int64_t> key = {keys_[0]};
  const std::vector<float> start = with_state(key, "plain", kDim);
  const std::vector<float> grad(kDim, 2.0f), delta(kDim, 3.0f);  // lr 0.5: push subtracts 1
  for (int round = 0; round < 2; ++round) {
    client_.push("plain", key.data(), 1, kDim, grad.data()).wait();
    client_.push_delta("plain", key.data(), 1, kDim, delta.data()).wait();
  }
  std::vector<float> want = start;
  for (float& v : want) v += 4.0f;
  EXPECT_EQ(with_state(key, "plain", kDim), want);
}

TEST_F(ClientRowState, AWidthThatIsNotTheTablesIsADimMismatchNamingBoth) {
  const std::vector<float> before = with_state(keys_);
  expect_request_error([&] { with_state(keys_, "items", kDim); }, ErrorCode::kDimMismatch,
                       {"5 floats per key", "not the width 4"});
  std::vector<float> deltas(keys_.size() * kDim, 1.0f);
  expect_request_error(
      [&] {
        client_
            .push_delta("items", keys_.data(), static_cast<int64_t>(keys_.size()), kDim,
                        deltas.data())
            .wait();
      },
      ErrorCode::kDimMismatch, {"4 floats per key", "width 5"});
  // Nothing changed, and the connections still serve.
  EXPECT_EQ(with_state(keys_), before);
}

TEST_F(ClientRowState, ANonFiniteDeltaIsRejectedAndChangesNothing) {
  const std::vector<int64_t> key = {keys_[1]};
  const std::vector<float> before = with_state(key);
  std::vector<float> delta(kWidth, 1.0f);
  delta[kDim] = std::numeric_limits<float>::infinity();
  expect_request_error(
      [&] { client_.push_delta("items", key.data(), 1, kWidth, delta.data()).wait(); },
      ErrorCode::kNonFinite, {"deltas of key " + std::to_string(key[0])});
  EXPECT_EQ(with_state(key), before);
}

}  // namespace
}  // namespace hybrec::ps

// The two calls of a trainer that caches rows and applies the optimizer
// itself, on the shard's handler in-process: pull WITH_STATE answers each
// row followed by its optimizer state, push_delta adds row-and-state deltas.
// Expected states come from apply_update, the server's own per-row update,
// run here on a copy of the slot, so every comparison is exact.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "parameter_server/server/service.h"
#include "parameter_server/wire/row_update.h"
#include "parameter_server/wire/wire_convert.h"
#include "ps_testing.h"
#include "service_calls.h"

namespace hybrec::ps {
namespace {

using testing::pack_floats;
using testing::pack_keys;

std::vector<float> unpack_floats(const std::string& bytes) {
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

class RowState : public ::testing::Test {
 protected:
  RowState() : shard_(ServiceOptions{ShardId{0, 1}, "", 1000}) {}

  // Creates the table and returns its spec (dim 4 unless told).
  TableSpec create(Optimizer optimizer, int dim = 4, int64_t max_rows = 0, int admit_after = 0) {
    TableSpec spec = testing::test_spec("items", dim, optimizer);
    spec.max_rows = max_rows;
    spec.admit_after = admit_after;
    calls_.create_table(to_wire(spec));
    return spec;
  }
  std::vector<float> pull(const std::vector<int64_t>& keys,
                          wire::PullMode::type mode = wire::PullMode::TRAIN) {
    std::string rows;
    calls_.pull(rows, "items", pack_keys(keys.data(), static_cast<int64_t>(keys.size())), mode);
    return unpack_floats(rows);
  }
  std::vector<float> pull_with_state(const std::vector<int64_t>& keys) {
    return pull(keys, wire::PullMode::WITH_STATE);
  }
  void push(const std::vector<int64_t>& keys, const std::vector<float>& grads,
            int64_t client_id = 0, int64_t sequence = 0) {
    calls_.push("items", pack_keys(keys.data(), static_cast<int64_t>(keys.size())),
                pack_floats(grads.data(), static_cast<int64_t>(grads.size())), client_id, sequence);
  }
  void push_delta(const std::vector<int64_t>& keys, const std::vector<float>& deltas,
                  int64_t client_id = 0, int64_t sequence = 0) {
    calls_.push_delta("items", pack_keys(keys.data(), static_cast<int64_t>(keys.size())),
                      pack_floats(deltas.data(), static_cast<int64_t>(deltas.size())), client_id,
                      sequence);
  }
  wire::ServerStats stats() {
    wire::ServerStats out;
    calls_.stats(out);
    return out;
  }
  // Runs fn, expects a PsError with code whose message holds every needle.
  template <typename Fn>
  void expect_rejected(Fn fn, wire::ErrorCode::type code, const std::vector<std::string>& needles) {
    try {
      fn();
      ADD_FAILURE() << "request accepted";
    } catch (const wire::PsError& e) {
      EXPECT_EQ(e.code, code) << e.message;
      for (const std::string& needle : needles) {
        EXPECT_NE(e.message.find(needle), std::string::npos) << needle << " in: " << e.message;
      }
    }
  }

  PsService shard_;
  testing::ServiceCalls calls_{shard_};
};

// a + b element by element, in float: what the shard's add must give exactly.
std::vector<float> plus(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] + b[i];
  return out;
}

// Deltas whose every element differs and is exact in binary.
std::vector<float> dyadic(size_t n, float scale = 0.125f) {
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = scale * static_cast<float>(i % 7 + 1);
  return out;
}

TEST_F(RowState, AdagradStateIsTheMeanSquaredGradientAndTheRowIsThePlainPull) {
  const TableSpec spec = create(Optimizer::kRowwiseAdagrad);
  const std::vector<int64_t> keys = {3, 8};
  std::vector<float> expected = pull_with_state(keys);  // initial rows, zero state
  ASSERT_EQ(expected.size(), 2u * 5);
  EXPECT_EQ(expected[4], 0.0f);
  EXPECT_EQ(expected[9], 0.0f);
  const std::vector<float> grads = {0.5f, -1.0f, 2.0f, 0.25f, 1.0f, 1.0f, -3.0f, 0.0f};
  push(keys, grads);
  for (int k = 0; k < 2; ++k) {
    apply_update(spec, &expected[k * 5], &expected[k * 5 + 4], &grads[k * 4]);
  }
  const std::vector<float> got = pull_with_state(keys);
  EXPECT_EQ(got, expected);
  const std::vector<float> rows = pull(keys);
  for (int k = 0; k < 2; ++k) {
    double mean_square = 0;
    for (int j = 0; j < 4; ++j) mean_square += grads[k * 4 + j] * grads[k * 4 + j] / 4.0;
    EXPECT_FLOAT_EQ(got[k * 5 + 4], static_cast<float>(mean_square)) << "key " << keys[k];
    for (int j = 0; j < 4; ++j) EXPECT_EQ(got[k * 5 + j], rows[k * 4 + j]);
  }
}

TEST_F(RowState, AdamStateIsMVAndStepAsApplyUpdateGives) {
  const int dim = 3;
  const TableSpec spec = create(Optimizer::kAdam, dim);
  const int width = dim + 2 * dim + 1;
  const std::vector<int64_t> key = {11};
  std::vector<float> expected = pull_with_state(key);
  ASSERT_EQ(expected.size(), static_cast<size_t>(width));
  for (int j = dim; j < width; ++j) EXPECT_EQ(expected[j], 0.0f) << "state element " << j;
  for (const std::vector<float>& g :
       {std::vector<float>{0.5f, -1.0f, 2.0f}, std::vector<float>{-0.25f, 0.75f, 1.5f}}) {
    push(key, g);
    apply_update(spec, expected.data(), expected.data() + dim, g.data());
  }
  const std::vector<float> got = pull_with_state(key);
  EXPECT_EQ(got, expected);
  EXPECT_EQ(got[width - 1], 2.0f) << "the row's own step count";
  const std::vector<float> row = pull(key);
  EXPECT_EQ(std::vector<float>(got.begin(), got.begin() + dim), row);
}

TEST_F(RowState, SgdHasNoStateSoWithStateIsThePlainPull) {
  create(Optimizer::kSgd);
  const std::vector<int64_t> keys = {1, 2, 3};
  push(keys, std::vector<float>(12, 1.0f));
  EXPECT_EQ(pull_with_state(keys), pull(keys));
}

TEST_F(RowState, WithStateStoresUnknownKeysUnderAdmissionAsTrainDoes) {
  create(Optimizer::kRowwiseAdagrad, 4, 0, /*admit_after=*/2);
  const std::vector<int64_t> key = {42};
  const std::vector<float> initial = pull(key, wire::PullMode::READ_ONLY);
  std::vector<float> want = initial;
  want.push_back(0.0f);
  EXPECT_EQ(pull_with_state(key), want);  // first sighting: answered, not stored
  ASSERT_EQ(stats().tables.at(0).rows, 0);
  EXPECT_EQ(pull_with_state(key), want);  // second: admitted and stored
  EXPECT_EQ(stats().tables.at(0).rows, 1);
  EXPECT_EQ(stats().pull_requests, 3);
}

TEST_F(RowState, PushDeltaAddsToRowAndStateAndPushContinuesFromIt) {
  const TableSpec spec = create(Optimizer::kRowwiseAdagrad);
  const std::vector<int64_t> keys = {1, 2, 3};
  push(keys, std::vector<float>(12, 0.5f));
  const std::vector<float> before = pull_with_state(keys);
  const std::vector<float> deltas = dyadic(15);
  push_delta(keys, deltas);
  std::vector<float> after = plus(before, deltas);
  EXPECT_EQ(pull_with_state(keys), after);
  // The next gradient meets the accumulator with the delta in it.
  const std::vector<float> grads = dyadic(12, 0.25f);
  push(keys, grads);
  for (int k = 0; k < 3; ++k) apply_update(spec, &after[k * 5], &after[k * 5 + 4], &grads[k * 4]);
  EXPECT_EQ(pull_with_state(keys), after);
  const wire::ServerStats s = stats();
  EXPECT_EQ(s.push_requests, 3);
  EXPECT_EQ(s.keys_pushed, 9);
}

TEST_F(RowState, PushDeltaToAnUnknownKeyIsItsInitialRowPlusTheDelta) {
  create(Optimizer::kAdam, 2);  // width 2 + 2 * 2 + 1 = 7
  const std::vector<int64_t> key = {-77};
  std::vector<float> initial = pull(key, wire::PullMode::READ_ONLY);
  initial.resize(7, 0.0f);
  const std::vector<float> delta = dyadic(7);
  push_delta(key, delta);
  EXPECT_EQ(stats().tables.at(0).rows, 1);
  EXPECT_EQ(pull_with_state(key), plus(initial, delta));
}

TEST_F(RowState, PushDeltaOfTheRowWidthIsRejectedNamingBothWidths) {
  create(Optimizer::kRowwiseAdagrad);
  const std::vector<int64_t> keys = {1, 2};
  const std::vector<float> before = pull_with_state(keys);
  expect_rejected([&] { push_delta(keys, std::vector<float>(8, 1.0f)); },
                  wire::ErrorCode::DIM_MISMATCH,
                  {"4 floats per key", "width 5", "dim 4 + 1 optimizer state"});
  EXPECT_EQ(pull_with_state(keys), before);
  EXPECT_EQ(stats().push_requests, 0);
}

TEST_F(RowState, NonFiniteDeltaRejectsTheWholeRequestUntouched) {
  create(Optimizer::kRowwiseAdagrad);
  const std::vector<int64_t> keys = {1, 2, 3};
  const std::vector<float> before = pull_with_state(keys);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> deltas(15, 0.5f);
    deltas[2 * 5 + 4] = bad;  // the last key's state: the first two keys must stay too
    expect_rejected([&] { push_delta(keys, deltas); }, wire::ErrorCode::NON_FINITE,
                    {"deltas of key 3", "element 4", "changed nothing"});
    EXPECT_EQ(pull_with_state(keys), before);
  }
  EXPECT_EQ(stats().push_requests, 0);
}

TEST_F(RowState, ARetriedPushDeltaIsAppliedOnceOnTheLedgerPushUses) {
  create(Optimizer::kSgd);  // lr 0.5, state-free: the row alone shows what applied
  const std::vector<int64_t> key = {5};
  const std::vector<float> start = pull_with_state(key);
  const std::vector<float> one(4, 1.0f);
  push_delta(key, one, 42, 1);
  const std::vector<float> once = plus(start, one);
  EXPECT_EQ(pull_with_state(key), once);
  push_delta(key, one, 42, 1);  // the same push_delta again: a retry after a lost reply
  EXPECT_EQ(pull_with_state(key), once);
  // Pushes and push_deltas of a client share its sequence: push 2 applies,
  // a push_delta numbered 2 is then a retry, 3 applies.
  push(key, std::vector<float>(4, 2.0f), 42, 2);
  const std::vector<float> pushed = plus(once, std::vector<float>(4, -1.0f));
  EXPECT_EQ(pull_with_state(key), pushed);
  push_delta(key, one, 42, 2);
  EXPECT_EQ(pull_with_state(key), pushed);
  push_delta(key, one, 42, 3);
  EXPECT_EQ(pull_with_state(key), plus(pushed, one));
  push_delta(key, one, 7, 1);  // another client's first applies
  push_delta(key, one, 0, 0);  // client_id 0: no deduplication
  push_delta(key, one, 0, 0);
  EXPECT_EQ(pull_with_state(key), plus(plus(plus(plus(pushed, one), one), one), one));
  EXPECT_EQ(stats().push_requests, 6);  // the two retries are not counted
  expect_rejected([&] { push_delta(key, one, 42, 0); }, wire::ErrorCode::BAD_REQUEST,
                  {"push_delta: sequence 0"});
}

TEST_F(RowState, AKeyRepeatedInOneRequestGetsEveryDelta) {
  create(Optimizer::kRowwiseAdagrad);
  const std::vector<int64_t> keys = {9, 4, 9};
  const std::vector<float> before = pull_with_state({9, 4});
  const std::vector<float> deltas = dyadic(15);
  push_delta(keys, deltas);
  std::vector<float> want = before;
  for (int j = 0; j < 5; ++j) {
    want[j] = (want[j] + deltas[j]) + deltas[10 + j];  // in request order
    want[5 + j] += deltas[5 + j];
  }
  EXPECT_EQ(pull_with_state({9, 4}), want);
}

TEST_F(RowState, PushDeltaToAKeyNotAdmittedIsDroppedAsPushIs) {
  create(Optimizer::kRowwiseAdagrad, 4, 0, /*admit_after=*/2);
  const std::vector<int64_t> key = {13};
  push_delta(key, dyadic(5));
  EXPECT_EQ(stats().tables.at(0).rows, 0);
  EXPECT_EQ(stats().pushes_unadmitted, 1);
  pull(key);
  pull(key);  // admitted now, and stored
  const std::vector<float> stored = pull_with_state(key);
  push_delta(key, dyadic(5));
  EXPECT_EQ(pull_with_state(key), plus(stored, dyadic(5)));
  EXPECT_EQ(stats().pushes_unadmitted, 1);
}

TEST_F(RowState, PushDeltaPastTheRowCapStoresNothingAndKeepsItsSequence) {
  create(Optimizer::kRowwiseAdagrad, 4, /*max_rows=*/2);
  const std::vector<int64_t> three = {1, 2, 3};
  expect_rejected([&] { push_delta(three, dyadic(15), 42, 1); }, wire::ErrorCode::TOO_LARGE,
                  {"push_delta would store 3 new rows", "max_rows 2"});
  EXPECT_EQ(stats().tables.at(0).rows, 0);
  // The refused request was not recorded: the same sequence still applies.
  const std::vector<int64_t> two = {1, 2};
  std::vector<float> want = pull(two, wire::PullMode::READ_ONLY);
  want.insert(want.begin() + 4, 0.0f);
  want.push_back(0.0f);
  push_delta(two, dyadic(10), 42, 1);
  EXPECT_EQ(pull_with_state(two), plus(want, dyadic(10)));
}

}  // namespace
}  // namespace hybrec::ps

// The shard's request handler in-process (no sockets): every bad request is
// rejected with a typed PsError naming the problem, and changes nothing.
#include "parameter_server/server/service.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "parameter_server/wire/payload.h"
#include "parameter_server/wire/wire_convert.h"
#include "ps_testing.h"
#include "service_calls.h"

namespace hybrec::ps {
namespace {

using testing::pack_floats;
using testing::pack_keys;

constexpr int kDim = 4;

class ServiceTest : public ::testing::Test {
 protected:
  ServiceTest() : shard_(ServiceOptions{ShardId{0, 1}, "", 1000}) {
    TableSpec spec;
    spec.name = "items";
    spec.dim = kDim;
    spec.optimizer = Optimizer::kRowwiseAdagrad;
    service_.create_table(to_wire(spec));
    keys_ = {1, 2, 3};
    std::vector<float> grads(keys_.size() * kDim, 0.25f);
    service_.push("items", pack_keys(keys_.data(), 3), pack_floats(grads.data(), grads.size()), 0,
                  0);
    before_ = rows();
  }

  std::string rows() {
    std::string out;
    service_.pull(out, "items", pack_keys(keys_.data(), 3));
    return out;
  }

  // Runs fn, expects a PsError with code; checks its message mentions needle
  // and that the rows did not change.
  template <typename Fn>
  void expect_rejected(Fn fn, wire::ErrorCode::type code, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "request accepted; expected error containing '" << needle << "'";
    } catch (const wire::PsError& e) {
      EXPECT_EQ(e.code, code) << e.message;
      EXPECT_NE(e.message.find(needle), std::string::npos) << e.message;
    }
    EXPECT_EQ(rows(), before_) << "a rejected request changed rows";
  }

  PsService shard_;
  testing::ServiceCalls service_{shard_};
  std::vector<int64_t> keys_;
  std::string before_;
};

TEST_F(ServiceTest, UnknownTable) {
  std::string out;
  expect_rejected([&] { service_.pull(out, "users", pack_keys(keys_.data(), 1)); },
                  wire::ErrorCode::UNKNOWN_TABLE, "'users'");
}

TEST_F(ServiceTest, KeysNotMultipleOfEightBytes) {
  std::string out;
  expect_rejected([&] { service_.pull(out, "items", std::string(13, '\1')); },
                  wire::ErrorCode::LENGTH_MISMATCH, "13 bytes");
}

TEST_F(ServiceTest, GradsOfWrongDim) {
  std::vector<float> grads(3 * (kDim + 1), 1.0f);
  expect_rejected(
      [&] {
        service_.push("items", pack_keys(keys_.data(), 3), pack_floats(grads.data(), grads.size()),
                      0, 0);
      },
      wire::ErrorCode::DIM_MISMATCH, "dim 4");
}

TEST_F(ServiceTest, KeysAndGradsLengthsDisagree) {
  std::vector<float> grads(2 * kDim, 1.0f);
  expect_rejected(
      [&] {
        service_.push("items", pack_keys(keys_.data(), 3), pack_floats(grads.data(), grads.size()),
                      0, 0);
      },
      wire::ErrorCode::DIM_MISMATCH, "3 keys");
}

TEST_F(ServiceTest, NonFiniteGradientRejectsTheWholeRequest) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> grads(3 * kDim, 1.0f);
    grads[2 * kDim + 1] = bad;  // last key: the first two must not be touched either
    expect_rejected(
        [&] {
          service_.push("items", pack_keys(keys_.data(), 3),
                        pack_floats(grads.data(), grads.size()), 0, 0);
        },
        wire::ErrorCode::NON_FINITE, "key 3");
  }
}

TEST_F(ServiceTest, NonFiniteAssignIsRejected) {
  std::vector<float> rows(3 * kDim, 0.5f);
  rows[0] = std::numeric_limits<float>::quiet_NaN();
  expect_rejected(
      [&] {
        service_.assign("items", pack_keys(keys_.data(), 3), pack_floats(rows.data(), rows.size()));
      },
      wire::ErrorCode::NON_FINITE, "key 1");
}

TEST_F(ServiceTest, TooManyKeys) {
  std::vector<int64_t> many(1001, 5);
  std::string out;
  expect_rejected([&] { service_.pull(out, "items", pack_keys(many.data(), many.size())); },
                  wire::ErrorCode::TOO_LARGE, "1001 keys");
}

TEST_F(ServiceTest, ConflictingCreateAndBadSpec) {
  TableSpec spec;
  spec.name = "items";
  spec.dim = 8;
  expect_rejected([&] { service_.create_table(to_wire(spec)); }, wire::ErrorCode::TABLE_CONFLICT,
                  "items");
  spec.name = "x";
  spec.dim = -1;
  expect_rejected([&] { service_.create_table(to_wire(spec)); }, wire::ErrorCode::BAD_SPEC,
                  "dim -1");
}

TEST_F(ServiceTest, SaveAndLoadWithoutCheckpointDir) {
  expect_rejected([&] { service_.save(1); }, wire::ErrorCode::NOT_CONFIGURED, "--checkpoint-dir");
  expect_rejected([&] { service_.load(1); }, wire::ErrorCode::NOT_CONFIGURED, "--checkpoint-dir");
}

TEST_F(ServiceTest, RejectionsAreCountedAndServingContinues) {
  std::string out;
  for (int i = 0; i < 3; ++i) {
    EXPECT_THROW(service_.pull(out, "nope", ""), wire::PsError);
  }
  wire::ServerStats stats;
  service_.stats(stats);
  EXPECT_EQ(stats.rejected_requests, 3);
  ASSERT_EQ(stats.tables.size(), 1u);
  EXPECT_EQ(stats.tables[0].rows, 3);
  wire::Health health;
  service_.health(health);
  EXPECT_TRUE(health.serving);
  EXPECT_EQ(health.wire_version, 3);
}

TEST_F(ServiceTest, ARetriedPushIsAppliedOnceAndNewSequencesApply) {
  std::vector<float> grads(3 * kDim, 1.0f);
  const std::string k = pack_keys(keys_.data(), 3), g = pack_floats(grads.data(), grads.size());
  service_.push("items", k, g, 42, 1);
  const std::string once = rows();
  ASSERT_NE(once, before_);
  service_.push("items", k, g, 42, 1);  // the same push again: a retry after a lost reply
  EXPECT_EQ(rows(), once);
  service_.push("items", k, g, 7, 1);  // another client's first push applies
  const std::string other = rows();
  EXPECT_NE(other, once);
  service_.push("items", k, g, 42, 2);  // this client's next push applies
  EXPECT_NE(rows(), other);
  const std::string after = rows();
  service_.push("items", k, g, 0, 0);  // client_id 0: no deduplication
  service_.push("items", k, g, 0, 0);
  std::string twice = rows();
  EXPECT_NE(twice, after);
  wire::ServerStats stats;
  service_.stats(stats);
  EXPECT_EQ(stats.push_requests, 1 + 3 + 2);  // the fixture's push, three applied, two unnamed
}

TEST_F(ServiceTest, EmptyRequestsAreValid) {
  std::string out;
  service_.pull(out, "items", "");
  EXPECT_TRUE(out.empty());
  service_.push("items", "", "", 0, 0);
  EXPECT_EQ(rows(), before_);
}

TEST_F(ServiceTest, SaveLoadRoundTripRestoresRowsAndState) {
  testing::TempDir dir;
  PsService shard(ServiceOptions{ShardId{0, 1}, dir.path(), 1000});
  testing::ServiceCalls service{shard};
  service.create_table(to_wire(testing::test_spec("items", kDim, Optimizer::kRowwiseAdagrad)));
  std::vector<float> grads(3 * kDim, 0.5f);
  const std::string keys = pack_keys(keys_.data(), 3);
  service.push("items", keys, pack_floats(grads.data(), grads.size()), 0, 0);
  std::string saved, changed, loaded;
  service.pull(saved, "items", keys);
  service.save(1);
  service.push("items", keys, pack_floats(grads.data(), grads.size()), 0, 0);
  service.pull(changed, "items", keys);
  ASSERT_NE(changed, saved);
  service.load(1);
  service.pull(loaded, "items", keys);
  EXPECT_EQ(loaded, saved);
  // Optimizer state came back too: the same push from the saved state gives
  // the same rows as before the load.
  service.push("items", keys, pack_floats(grads.data(), grads.size()), 0, 0);
  service.pull(loaded, "items", keys);
  EXPECT_EQ(loaded, changed);
  wire::ServerStats stats;
  service.stats(stats);
  EXPECT_EQ(stats.last_checkpoint_version, 1);
}

TEST_F(ServiceTest, LoadOfMissingVersionFailsAndKeepsRows) {
  testing::TempDir dir;
  PsService shard(ServiceOptions{ShardId{0, 1}, dir.path(), 1000});
  testing::ServiceCalls service{shard};
  service.create_table(to_wire(testing::test_spec("items", kDim, Optimizer::kRowwiseAdagrad)));
  std::string a, b;
  service.pull(a, "items", pack_keys(keys_.data(), 3));
  EXPECT_THROW(service.load(9), wire::PsError);
  service.pull(b, "items", pack_keys(keys_.data(), 3));
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace hybrec::ps

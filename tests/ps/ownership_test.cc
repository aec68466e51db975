// Finding 3 of the integrity review: a shard accepted and stored keys it
// does not own (a pull routed by another slicer), saved them, and refused to
// load that snapshot ("key ... belongs to shard 1 of 2"), so a 1200-step run
// trained fully and then exited 1 reloading its best checkpoint. A shard now
// holds a table only under its own routing and shard count, answers
// WRONG_SHARD for a foreign key, and stores nothing of such a request; every
// snapshot it writes loads again.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "parameter_server/server/service.h"
#include "parameter_server/wire/slicer.h"
#include "parameter_server/wire/wire_convert.h"
#include "ps_testing.h"
#include "service_calls.h"

namespace hybrec::ps {
namespace {

using testing::pack_floats;
using testing::pack_keys;

constexpr int kDim = 4;

template <typename Fn>
void expect_code(Fn fn, wire::ErrorCode::type code, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "accepted; expected error containing '" << needle << "'";
  } catch (const wire::PsError& e) {
    EXPECT_EQ(e.code, code) << e.message;
    EXPECT_NE(e.message.find(needle), std::string::npos) << e.message;
  }
}

class Ownership : public ::testing::Test {
 protected:
  Ownership() : shard_(ServiceOptions{ShardId{0, 2}, dir_.path(), 1 << 20}) {
    TableSpec spec = testing::test_spec("items", kDim, Optimizer::kSgd);
    spec.num_shards = 2;
    calls_.create_table(to_wire(spec));
    JumpHashSlicer slicer(2);
    for (int64_t k = 0; mine_.size() < 50 || theirs_.size() < 50; ++k) {
      (slicer.shard_of(k) == 0 ? mine_ : theirs_).push_back(k);
    }
    mine_.resize(50);
    theirs_.resize(50);
  }

  int64_t rows() {
    wire::ServerStats stats;
    calls_.stats(stats);
    return stats.tables.at(0).rows;
  }

  testing::TempDir dir_;
  PsService shard_;
  testing::ServiceCalls calls_{shard_};
  std::vector<int64_t> mine_, theirs_;
};

TEST_F(Ownership, ForeignKeysAreWrongShardAndNothingOfTheRequestIsStored) {
  std::string out;
  calls_.pull(out, "items", pack_keys(mine_.data(), 50));
  ASSERT_EQ(rows(), 50);
  // Its own keys with one foreign key in the middle: the whole request is refused.
  std::vector<int64_t> mixed(mine_.begin(), mine_.begin() + 10);
  mixed.insert(mixed.end(), theirs_.begin(), theirs_.begin() + 1);
  mixed.insert(mixed.end(), mine_.begin() + 10, mine_.end());
  std::vector<int64_t> fresh;
  for (int64_t k = 100000; fresh.size() < 5; ++k) {
    if (JumpHashSlicer(2).shard_of(k) == 0) fresh.push_back(k);
  }
  mixed.insert(mixed.end(), fresh.begin(), fresh.end());
  const std::string keys = pack_keys(mixed.data(), static_cast<int64_t>(mixed.size()));
  std::vector<float> grads(mixed.size() * kDim, 1.0f);
  const std::string g = pack_floats(grads.data(), static_cast<int64_t>(grads.size()));
  const std::string needle =
      "key " + std::to_string(theirs_[0]) + " (position 10) belongs to shard 1";
  std::string before;
  calls_.pull(before, "items", pack_keys(mine_.data(), 50), wire::PullMode::READ_ONLY);
  expect_code([&] { calls_.pull(out, "items", keys); }, wire::ErrorCode::WRONG_SHARD, needle);
  expect_code([&] { calls_.pull(out, "items", keys, wire::PullMode::READ_ONLY); },
              wire::ErrorCode::WRONG_SHARD, needle);
  expect_code([&] { calls_.push("items", keys, g, 0, 0); }, wire::ErrorCode::WRONG_SHARD, needle);
  expect_code([&] { calls_.assign("items", keys, g); }, wire::ErrorCode::WRONG_SHARD, needle);
  EXPECT_EQ(rows(), 50) << "a refused request stored rows";
  std::string after;
  calls_.pull(after, "items", pack_keys(mine_.data(), 50), wire::PullMode::READ_ONLY);
  EXPECT_EQ(after, before) << "a refused request changed rows";

  // The snapshot it takes now loads back (the finding: it did not).
  calls_.save(5);
  calls_.push("items", pack_keys(mine_.data(), 50),
              pack_floats(std::vector<float>(50 * kDim, 1.0f).data(), 50 * kDim), 0, 0);
  calls_.load(5);
  calls_.pull(after, "items", pack_keys(mine_.data(), 50), wire::PullMode::READ_ONLY);
  EXPECT_EQ(after, before);
}

TEST_F(Ownership, ATableSpreadOverAnotherShardCountIsRefused) {
  TableSpec spec = testing::test_spec("users", kDim, Optimizer::kSgd);
  spec.num_shards = 3;
  expect_code([&] { calls_.create_table(to_wire(spec)); }, wire::ErrorCode::BAD_SPEC,
              "spread over 3 shards, but this is shard 0 of 2");
  spec.num_shards = 2;
  spec.routing = "modulo";
  expect_code([&] { calls_.create_table(to_wire(spec)); }, wire::ErrorCode::BAD_SPEC,
              "unknown routing 'modulo'");
  wire::ServerStats stats;
  calls_.stats(stats);
  EXPECT_EQ(stats.tables.size(), 1u);
}

}  // namespace
}  // namespace hybrec::ps

// Finding 4 of the integrity review: a pull of 13M never-seen keys grew a
// shard without bound (2.5 GB, then a 1.8 GB checkpoint), and evaluation
// created rows because every pull inserted. These pin the bounds: the row
// cap refuses a request whole, read-only pulls store nothing, the admission
// filter keeps rare keys out, and TTL eviction frees rows and their slots.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <thread>
#include <vector>

#include "parameter_server/store/admission_filter.h"
#include "parameter_server/store/row_table.h"
#include "parameter_server/wire/errors.h"
#include "parameter_server/wire/row_init.h"
#include "ps_testing.h"

namespace hybrec::ps {
namespace {

using testing::test_spec;

constexpr int kDim = 4;

std::vector<int64_t> key_range(int64_t first, int64_t n) {
  std::vector<int64_t> keys(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) keys[i] = first + i;
  return keys;
}

std::vector<float> initial_rows(const TableSpec& spec, const std::vector<int64_t>& keys) {
  std::vector<float> rows(keys.size() * spec.dim);
  for (size_t i = 0; i < keys.size(); ++i) {
    init_row(static_cast<uint64_t>(spec.seed), table_name_hash(spec.name), keys[i],
             static_cast<float>(spec.init_scale), spec.dim, rows.data() + i * spec.dim);
  }
  return rows;
}

template <typename Fn>
void expect_too_large(Fn fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "accepted; expected TOO_LARGE";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kTooLarge) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(RowBounds, ReadOnlyPullsAnswerInitialRowsAndStoreNothing) {
  TableSpec spec = test_spec("users", kDim, Optimizer::kRowwiseAdagrad);
  RowTable t(spec);
  const auto keys = key_range(100, 50);
  std::vector<float> read(keys.size() * kDim);
  t.pull(keys.data(), 50, read.data(), PullMode::kReadOnly);
  EXPECT_EQ(t.size(), 0) << "a read-only pull stored rows";
  EXPECT_EQ(read, initial_rows(spec, keys));
  // A training pull then stores exactly those values, and a read-only pull
  // of stored keys reads what is stored.
  std::vector<float> trained(read.size());
  t.pull(keys.data(), 50, trained.data(), PullMode::kTrain);
  EXPECT_EQ(trained, read);
  EXPECT_EQ(t.size(), 50);
  std::vector<float> grads(read.size(), 1.0f);
  t.push(keys.data(), 50, grads.data());
  std::vector<float> after(read.size());
  t.pull(keys.data(), 50, after.data(), PullMode::kReadOnly);
  EXPECT_NE(after, read);
  EXPECT_EQ(t.size(), 50);
}

TEST(RowBounds, TheCapRefusesAWholeRequestAndStoresNothingOfIt) {
  TableSpec spec = test_spec("items", kDim, Optimizer::kSgd);
  spec.max_rows = 100;
  RowTable t(spec);
  const auto first = key_range(0, 90);
  std::vector<float> rows(200 * kDim);
  t.pull(first.data(), 90, rows.data());
  ASSERT_EQ(t.size(), 90);
  // 20 new keys would pass the cap: refused whole, none of them stored.
  const auto over = key_range(80, 30);  // 10 stored + 20 new
  expect_too_large([&] { t.pull(over.data(), 30, rows.data()); }, "max_rows 100");
  EXPECT_EQ(t.size(), 90);
  for (int64_t k = 90; k < 110; ++k) EXPECT_FALSE(t.find(k, nullptr)) << k;
  std::vector<float> grads(30 * kDim, 1.0f);
  expect_too_large([&] { t.push(over.data(), 30, grads.data()); }, "nothing was stored");
  expect_too_large([&] { t.assign(over.data(), 30, grads.data()); }, "nothing was stored");
  EXPECT_EQ(t.size(), 90);
  // A repeated key counts once; exactly up to the cap is fine.
  std::vector<int64_t> fill = key_range(90, 10);
  fill.push_back(95);
  t.pull(fill.data(), 11, rows.data());
  EXPECT_EQ(t.size(), 100);
  // At the cap, stored keys keep training and reads of unknown keys still
  // answer (read-only pulls never count against it).
  const std::vector<float> first_grads(90 * kDim, 1.0f);
  t.push(first.data(), 90, first_grads.data());
  t.pull(over.data(), 30, rows.data(), PullMode::kReadOnly);
  expect_too_large([&] { t.pull(over.data() + 29, 1, rows.data()); }, "holds 100");
}

TEST(RowBounds, TheCapHoldsUnderConcurrentInserts) {
  TableSpec spec = test_spec("items", kDim, Optimizer::kSgd);
  spec.max_rows = 1000;
  RowTable t(spec);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      std::vector<float> rows(64 * kDim);
      for (int r = 0; r < 20; ++r) {
        const auto keys = key_range(w * 100000 + r * 64, 64);
        try {
          t.pull(keys.data(), 64, rows.data());
        } catch (const RequestError&) {
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(t.size(), 1000);
  EXPECT_GE(t.size(), 1000 - 63) << "refused although there was room";
}

TEST(RowBounds, AdmissionStoresAKeyFromItsNthTrainingPullOn) {
  TableSpec spec = test_spec("items", kDim, Optimizer::kSgd);
  spec.admit_after = 3;
  RowTable t(spec);
  const auto keys = key_range(7, 20);
  std::vector<float> rows(keys.size() * kDim), grads(rows.size(), 1.0f);
  const std::vector<float> initial = initial_rows(spec, keys);
  for (int seen = 1; seen <= 2; ++seen) {
    t.pull(keys.data(), 20, rows.data());
    EXPECT_EQ(rows, initial) << "an unadmitted key must read its initial row";
    EXPECT_EQ(t.size(), 0) << "stored after " << seen << " pulls";
    // Its gradients have no row to go to: dropped, and said so.
    EXPECT_EQ(t.push(keys.data(), 20, grads.data()), 20);
  }
  t.pull(keys.data(), 20, rows.data());
  EXPECT_EQ(t.size(), 20);
  EXPECT_EQ(rows, initial);
  EXPECT_EQ(t.push(keys.data(), 20, grads.data()), 0);
  t.pull(keys.data(), 20, rows.data(), PullMode::kReadOnly);
  EXPECT_NE(rows, initial);
  // With a cap, a key repeated in one request up to its admission counts
  // against the cap: the request is refused whole rather than passing it.
  {
    TableSpec capped = spec;
    capped.max_rows = 1;
    RowTable c(capped);
    const int64_t twice[] = {1, 2, 2, 2};  // 2 is admitted by its 3rd sighting here
    std::vector<float> r(4 * kDim);
    c.pull(twice, 1, r.data());
    c.pull(twice, 1, r.data());
    c.pull(twice, 1, r.data());  // key 1 admitted: the table is full
    ASSERT_EQ(c.size(), 1);
    expect_too_large([&] { c.pull(twice + 1, 3, r.data()); }, "max_rows 1");
    EXPECT_EQ(c.size(), 1);
  }
  // Read-only pulls do not count towards admission.
  const auto other = key_range(1000, 5);
  for (int i = 0; i < 5; ++i) t.pull(other.data(), 5, rows.data(), PullMode::kReadOnly);
  t.pull(other.data(), 5, rows.data());
  EXPECT_EQ(t.size(), 20);
}

TEST(RowBounds, AdmissionKeepsAZipfTailOut) {
  // 200k pulls of a Zipf(1.1) stream over 1M ids: with admit_after 4 most
  // of the ids seen once or twice never get a row.
  std::mt19937_64 rng(5);
  std::vector<double> cdf(1000000);
  double total = 0;
  for (size_t i = 0; i < cdf.size(); ++i) cdf[i] = total += 1.0 / std::pow(i + 1.0, 1.1);
  std::map<int64_t, int> counts;
  TableSpec spec = test_spec("items", kDim, Optimizer::kSgd);
  spec.admit_after = 4;
  RowTable t(spec);
  std::vector<float> row(kDim);
  std::uniform_real_distribution<double> u(0, total);
  for (int i = 0; i < 200000; ++i) {
    const int64_t key = std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin();
    ++counts[key];
    t.pull(&key, 1, row.data());
  }
  int64_t frequent = 0;
  for (const auto& [key, n] : counts) frequent += n >= 4;
  // Count-min only overestimates: every key seen 4+ times is stored, and
  // collisions let in only a few more.
  EXPECT_GE(t.size(), frequent);
  EXPECT_LE(t.size(), frequent + frequent / 20 + 10);
  EXPECT_LT(t.size(), static_cast<int64_t>(counts.size()) / 2)
      << counts.size() << " distinct keys, " << frequent << " seen 4+ times";
}

TEST(RowBounds, EvictionRemovesRowsNotWrittenWithinTheTtl) {
  TableSpec spec = test_spec("items", kDim, Optimizer::kSgd);
  spec.ttl_s = 10;
  RowTable t(spec);
  const auto old_keys = key_range(0, 500);
  std::vector<float> rows(500 * kDim), grads(rows.size(), 1.0f);
  t.pull(old_keys.data(), 500, rows.data());
  EXPECT_EQ(t.evict_expired(t.now_s()), 0) << "fresh rows evicted";
  // 30 s on: everything was written at least 10 s before.
  EXPECT_EQ(t.evict_expired(t.now_s() + 30), 500);
  EXPECT_EQ(t.size(), 0);
  // An evicted key comes back as a new row (its initial values).
  t.pull(old_keys.data(), 500, rows.data());
  EXPECT_EQ(rows, initial_rows(spec, old_keys));
  const int64_t bytes = t.bytes();
  // Slots are reused: cycling the rows through eviction does not grow memory.
  for (int round = 0; round < 5; ++round) {
    EXPECT_EQ(t.evict_expired(t.now_s() + 30), 500);
    t.pull(old_keys.data(), 500, rows.data());
  }
  EXPECT_EQ(t.bytes(), bytes);
}

TEST(RowBounds, EvictionKeepsEveryOtherKeyFindable) {
  // Backward-shift deletion: 20,000 random keys written in the table's
  // second 0 are evicted from among 20,000 written in second 1, which must
  // all stay reachable with their own rows (checked against a map).
  TableSpec spec = test_spec("items", 2, Optimizer::kSgd);
  spec.ttl_s = 5;
  RowTable t(spec);
  std::mt19937_64 rng(11);
  std::vector<int64_t> doomed, keep;
  for (int i = 0; i < 20000; ++i) doomed.push_back(static_cast<int64_t>(rng()));
  for (int i = 0; i < 20000; ++i) keep.push_back(static_cast<int64_t>(rng()));
  std::vector<float> rows(doomed.size() * 2);
  t.pull(doomed.data(), static_cast<int64_t>(doomed.size()), rows.data());
  ASSERT_LT(t.now_s(), 1.0) << "the machine is too slow for this test's clock";
  while (t.now_s() < 1.0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::vector<float> grads(keep.size() * 2);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = static_cast<float>(i % 97);
  t.push(keep.data(), static_cast<int64_t>(keep.size()), grads.data());  // stores and writes
  ASSERT_LT(t.now_s(), 2.0);
  std::map<int64_t, std::vector<float>> expected;
  for (int64_t k : keep) {
    std::vector<float> slot(2);
    ASSERT_TRUE(t.find(k, slot.data()));
    expected[k] = slot;
  }
  // At 1.5 s past the ttl, second 0 has expired and second 1 has not.
  EXPECT_EQ(t.evict_expired(spec.ttl_s + 1.5), 20000);
  EXPECT_EQ(t.size(), 20000);
  for (int64_t k : doomed) ASSERT_FALSE(t.find(k, nullptr)) << k;
  for (const auto& [k, row] : expected) {
    std::vector<float> slot(2);
    ASSERT_TRUE(t.find(k, slot.data())) << "key " << k << " lost by an eviction";
    EXPECT_EQ(slot, row);
  }
}

}  // namespace
}  // namespace hybrec::ps

// RowTable and RowStore: storage, first-pull initialisation, concurrency.
#include "parameter_server/store/row_store.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "parameter_server/wire/errors.h"
#include "parameter_server/wire/row_init.h"
#include "ps_testing.h"

namespace hybrec::ps {
namespace {

using testing::test_spec;

TEST(RowTable, FirstPullInitialisesFromSeedTableAndKeyOnly) {
  RowTable a(test_spec("items", 16, Optimizer::kSgd));
  RowTable b(test_spec("items", 16, Optimizer::kRowwiseAdagrad));
  // Different insertion orders and neighbours: the same key still gets the same row.
  std::vector<int64_t> keys_a = {5, -3, 1LL << 40, 0};
  std::vector<int64_t> keys_b = {0, 99, 1LL << 40, 12, -3, 5};
  std::vector<float> rows_a(keys_a.size() * 16), rows_b(keys_b.size() * 16);
  a.pull(keys_a.data(), 4, rows_a.data());
  b.pull(keys_b.data(), 6, rows_b.data());
  auto row = [](const std::vector<float>& rows, int i) {
    return std::vector<float>(rows.begin() + i * 16, rows.begin() + (i + 1) * 16);
  };
  EXPECT_EQ(row(rows_a, 0), row(rows_b, 5));  // key 5
  EXPECT_EQ(row(rows_a, 1), row(rows_b, 4));  // key -3
  EXPECT_EQ(row(rows_a, 2), row(rows_b, 2));  // key 2^40
  EXPECT_EQ(row(rows_a, 3), row(rows_b, 0));  // key 0
  // And it is the documented generator's output.
  std::vector<float> expected(16);
  init_row(7, table_name_hash("items"), 5, 0.1f, 16, expected.data());
  EXPECT_EQ(row(rows_a, 0), expected);
}

TEST(RowTable, InitialRowsAreUniformInScaleAndDifferAcrossKeysTablesAndSeeds) {
  const int dim = 64;
  std::vector<float> r1(dim), r2(dim), r3(dim), r4(dim);
  init_row(1, table_name_hash("users"), 42, 0.05f, dim, r1.data());
  init_row(1, table_name_hash("users"), 43, 0.05f, dim, r2.data());
  init_row(1, table_name_hash("items"), 42, 0.05f, dim, r3.data());
  init_row(2, table_name_hash("users"), 42, 0.05f, dim, r4.data());
  EXPECT_NE(r1, r2);
  EXPECT_NE(r1, r3);
  EXPECT_NE(r1, r4);
  // Mean and range over many values: uniform on [-0.05, 0.05).
  double sum = 0, sum_sq = 0;
  const int n = 20000;
  std::vector<float> row(dim);
  for (int k = 0; k < n / dim; ++k) {
    init_row(3, 11, k, 0.05f, dim, row.data());
    for (float v : row) {
      ASSERT_GE(v, -0.05f);
      ASSERT_LT(v, 0.05f);
      sum += v;
      sum_sq += static_cast<double>(v) * v;
    }
  }
  const double count = (n / dim) * dim;
  EXPECT_NEAR(sum / count, 0.0, 0.002);
  EXPECT_NEAR(sum_sq / count, 0.05 * 0.05 / 3, 0.0001);  // variance of U(-a, a) is a^2 / 3
}

TEST(RowTable, PullStoresRowsAndPushAppliesSgd) {
  RowTable t(test_spec("t", 4, Optimizer::kSgd));
  const int64_t keys[2] = {10, 20};
  float before[8], after[8];
  t.pull(keys, 2, before);
  EXPECT_EQ(t.size(), 2);
  const float grads[8] = {1, 2, 3, 4, -1, -2, -3, -4};
  t.push(keys, 2, grads);
  t.pull(keys, 2, after);
  for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(after[i], before[i] - 0.5f * grads[i]);
  EXPECT_EQ(t.size(), 2);
}

TEST(RowTable, PushToUnseenKeyStartsFromItsInitialRow) {
  RowTable t(test_spec("t", 3, Optimizer::kSgd));
  const int64_t key = 77;
  const float grad[3] = {2, 0, -2};
  t.push(&key, 1, grad);
  float init[3], got[3];
  init_row(7, table_name_hash("t"), key, 0.1f, 3, init);
  t.pull(&key, 1, got);
  for (int j = 0; j < 3; ++j) EXPECT_FLOAT_EQ(got[j], init[j] - 0.5f * grad[j]);
}

TEST(RowTable, RepeatedKeyInOnePushIsUpdatedOncePerOccurrence) {
  RowTable t(test_spec("t", 2, Optimizer::kSgd));
  const int64_t keys[3] = {4, 4, 4};
  const float grads[6] = {1, 1, 1, 1, 1, 1};
  float before[2], after[2];
  t.pull(keys, 1, before);
  t.push(keys, 3, grads);
  t.pull(keys, 1, after);
  EXPECT_FLOAT_EQ(after[0], before[0] - 1.5f);
}

TEST(RowTable, AssignOverwritesRowAndResetsState) {
  RowTable t(test_spec("t", 2, Optimizer::kRowwiseAdagrad));
  const int64_t key = 1;
  const float grad[2] = {3, 4};
  t.push(&key, 1, grad);
  float slot[3];
  ASSERT_TRUE(t.find(key, slot));
  EXPECT_FLOAT_EQ(slot[2], 12.5f);  // mean of g^2
  const float row[2] = {0.25f, -0.5f};
  t.assign(&key, 1, row);
  ASSERT_TRUE(t.find(key, slot));
  EXPECT_EQ(slot[0], 0.25f);
  EXPECT_EQ(slot[1], -0.5f);
  EXPECT_EQ(slot[2], 0.0f);
}

TEST(RowTable, FindNeverInserts) {
  RowTable t(test_spec("t", 2, Optimizer::kSgd));
  EXPECT_FALSE(t.find(5, nullptr));
  EXPECT_EQ(t.size(), 0);
}

TEST(RowTable, ManyKeysSurviveGrowthAndSnapshotSeesEachOnceWithItsState) {
  RowTable t(test_spec("t", 3, Optimizer::kRowwiseAdagrad));
  const int64_t n = 100000;
  std::vector<int64_t> keys(n);
  for (int64_t i = 0; i < n; ++i) keys[i] = i * 7919 - 50000;
  std::vector<float> rows(n * 3), grads(n * 3, 1.0f);
  t.pull(keys.data(), n, rows.data());
  t.push(keys.data(), n, grads.data());
  EXPECT_EQ(t.size(), n);
  std::set<int64_t> seen;
  t.snapshot([&](const int64_t* k, const float* slots, int64_t count) {
    for (int64_t i = 0; i < count; ++i) {
      EXPECT_TRUE(seen.insert(k[i]).second) << "key " << k[i] << " twice";
      EXPECT_FLOAT_EQ(slots[i * 4 + 3], 1.0f);  // one update of all-ones: mean g^2 = 1
    }
  });
  EXPECT_EQ(static_cast<int64_t>(seen.size()), n);
  // Rows really stored: pulling again gives the updated values.
  std::vector<float> again(n * 3);
  t.pull(keys.data(), n, again.data());
  for (int64_t i = 0; i < n * 3; i += 997) EXPECT_NE(again[i], rows[i]);
}

TEST(RowTable, BytesCoverPayloadWithBoundedOverhead) {
  RowTable t(test_spec("t", 64, Optimizer::kRowwiseAdagrad));
  const int64_t n = 200000;
  std::vector<int64_t> keys(n);
  for (int64_t i = 0; i < n; ++i) keys[i] = i;
  std::vector<float> rows(n * 64);
  t.pull(keys.data(), n, rows.data());
  const double per_row = static_cast<double>(t.bytes()) / n;
  EXPECT_GE(per_row, 65 * 4);
  EXPECT_LE(per_row, 65 * 4 * 1.5);  // loose here; bench_ps measures 10M rows
}

TEST(RowTable, ConcurrentPushesToSharedKeysLoseNoUpdate) {
  RowTable t(test_spec("t", 8, Optimizer::kSgd));
  const int64_t n = 512;
  std::vector<int64_t> keys(n);
  for (int64_t i = 0; i < n; ++i) keys[i] = i;
  std::vector<float> before(n * 8);
  t.pull(keys.data(), n, before.data());
  // Gradients of -1 with lr 0.5: every update adds exactly 0.5 (exact in float).
  std::vector<float> grads(n * 8, -1.0f);
  const int threads = 4, rounds = 50;
  std::vector<std::thread> pool;
  for (int w = 0; w < threads; ++w) {
    pool.emplace_back([&] {
      std::vector<float> scratch(n * 8);
      for (int r = 0; r < rounds; ++r) {
        t.push(keys.data(), n, grads.data());
        t.pull(keys.data(), n, scratch.data());
      }
    });
  }
  for (auto& th : pool) th.join();
  std::vector<float> after(n * 8);
  t.pull(keys.data(), n, after.data());
  for (int64_t i = 0; i < n * 8; ++i) {
    ASSERT_FLOAT_EQ(after[i], before[i] + 0.5f * threads * rounds) << "element " << i;
  }
}

TEST(RowStore, CreateIsIdempotentAndConflictsAreTyped) {
  RowStore store;
  RowTable& a = store.create_table(test_spec("users", 8, Optimizer::kSgd));
  RowTable& b = store.create_table(test_spec("users", 8, Optimizer::kSgd));
  EXPECT_EQ(&a, &b);
  try {
    store.create_table(test_spec("users", 16, Optimizer::kSgd));
    FAIL() << "conflicting spec accepted";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kTableConflict);
    EXPECT_NE(std::string(e.what()).find("dim=8"), std::string::npos) << e.what();
  }
  try {
    store.table("items");
    FAIL() << "unknown table found";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnknownTable);
    EXPECT_NE(std::string(e.what()).find("'items'"), std::string::npos) << e.what();
  }
}

TEST(RowStore, InvalidSpecsAreRejectedNamingTheField) {
  RowStore store;
  auto expect_bad = [&](TableSpec s, const std::string& needle) {
    try {
      store.create_table(s);
      FAIL() << "accepted " << describe(s);
    } catch (const RequestError& e) {
      EXPECT_EQ(e.code(), ErrorCode::kBadSpec);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_bad(test_spec("", 8, Optimizer::kSgd), "name");
  expect_bad(test_spec("a/b", 8, Optimizer::kSgd), "a/b");
  expect_bad(test_spec("t", 0, Optimizer::kSgd), "dim 0");
  expect_bad(test_spec("t", kMaxDim + 1, Optimizer::kSgd), "dim");
  TableSpec s = test_spec("t", 8, Optimizer::kSgd);
  s.learning_rate = std::numeric_limits<double>::quiet_NaN();
  expect_bad(s, "learning_rate");
  s = test_spec("t", 8, Optimizer::kAdam);
  s.beta1 = 1.0;
  expect_bad(s, "beta1");
  s = test_spec("t", 8, Optimizer::kSgd);
  s.optimizer = static_cast<Optimizer>(9);
  expect_bad(s, "optimizer");
  EXPECT_TRUE(store.tables().empty());
}

}  // namespace
}  // namespace hybrec::ps

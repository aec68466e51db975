// The trainer's row cache against a real parameter-server table (the
// server's RowTable, its optimizer and its [row | state] slots) on the CPU
// backend: admission by frequency, LFU eviction, held rows, write-through
// exactness, write-back deltas and the write-back of evicted rows.
#include "trainer/loop/row_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "parameter_server/store/row_table.h"

namespace hybrec::trainer {
namespace {

ps::TableSpec spec_of(ps::Optimizer optimizer) {
  ps::TableSpec spec;
  spec.name = "user";
  spec.dim = 4;
  spec.optimizer = optimizer;
  spec.learning_rate = 0.1;
  spec.init_scale = 0.05;
  spec.seed = 7;
  return spec;
}

// A RowTable standing in for one shard: the cache's reads are a training
// pull (which initialises a new key) then the key's whole slot; its deltas
// are added to the slot and stored back.
struct Server {
  explicit Server(const ps::TableSpec& spec)
      : table(spec), width(spec.dim + ps::state_floats(spec)) {}

  std::vector<float> slot(int64_t key) {
    std::vector<float> row(static_cast<std::size_t>(table.dim())), out(width);
    table.pull(&key, 1, row.data());
    EXPECT_TRUE(table.find(key, out.data()));
    return out;
  }
  RowCacheBacking backing() {
    RowCacheBacking b;
    b.pull_with_state = [this](const int64_t* keys, int64_t n, float* out) {
      ++pulls;
      for (int64_t i = 0; i < n; ++i) {
        const auto s = slot(keys[i]);
        std::memcpy(out + i * width, s.data(), width * sizeof(float));
      }
    };
    b.push_delta = [this](const int64_t* keys, int64_t n, const float* deltas) {
      for (int64_t i = 0; i < n; ++i) {
        auto s = slot(keys[i]);
        for (std::size_t k = 0; k < width; ++k) s[k] += deltas[i * width + k];
        table.restore(&keys[i], 1, s.data());
        delta_keys.push_back(keys[i]);
      }
    };
    return b;
  }

  ps::RowTable table;
  std::size_t width;
  int pulls = 0;
  std::vector<int64_t> delta_keys;
};

// One training step on the cache as TrainStep drives it: lookup, the misses
// pulled with their state, the rows assembled, the gradients applied and the
// rest pushed to the server. Returns the assembled rows.
std::vector<float> step(RowCache& cache, Server& server, const std::vector<int64_t>& keys,
                        const std::vector<float>& grads) {
  const auto n = static_cast<int64_t>(keys.size());
  const int64_t d = cache.dim(), w = cache.width();
  std::vector<int64_t> slots(keys.size()), miss_keys;
  const int64_t at = cache.lookup(keys.data(), n, slots.data());
  for (int64_t i = 0; i < n; ++i) {
    if (slots[i] < 0) miss_keys.push_back(keys[i]);
  }
  std::vector<float> miss_rows(miss_keys.size() * static_cast<std::size_t>(w));
  if (!miss_keys.empty()) {
    server.backing().pull_with_state(miss_keys.data(), static_cast<int64_t>(miss_keys.size()),
                                     miss_rows.data());
  }
  std::vector<float> rows(keys.size() * static_cast<std::size_t>(d));
  cache.assemble(slots.data(), n, miss_rows.data(), rows.data());
  std::vector<int64_t> push_index;
  cache.update(keys.data(), slots.data(), n, grads.data(), grads.data(), miss_rows.data(), at,
               &push_index);
  cache.send_evicted();
  for (int64_t i : push_index) server.table.push(&keys[i], 1, grads.data() + i * d);
  cache.release(slots.data(), n);
  return rows;
}

std::vector<float> random_grads(std::mt19937& rng, std::size_t n, int64_t d) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> g(n * static_cast<std::size_t>(d));
  for (float& x : g) x = u(rng);
  return g;
}

// The cached copy of key's row (a one-key lookup and assemble).
std::vector<float> cached_row(RowCache& cache, int64_t key) {
  int64_t slot = -1;
  cache.lookup(&key, 1, &slot);
  EXPECT_GE(slot, 0) << "key " << key << " is not cached";
  std::vector<float> row(static_cast<std::size_t>(cache.dim()));
  cache.assemble(&slot, 1, nullptr, row.data());
  cache.release(&slot, 1);
  return row;
}

class WriteThrough : public ::testing::TestWithParam<ps::Optimizer> {};

TEST_P(WriteThrough, CachedRowsEqualTheServersBitForBit) {
  const ps::TableSpec spec = spec_of(GetParam());
  Server server(spec);
  RowCache cache(spec, /*capacity=*/6, /*write_through=*/true, kernels::Device::cpu(),
                 server.backing());
  std::mt19937 rng(3);
  std::uniform_int_distribution<int64_t> key(0, 11);
  int64_t hits = 0;
  for (int s = 0; s < 40; ++s) {
    std::vector<int64_t> keys;
    for (int i = 0; i < 5; ++i) {
      const int64_t k = key(rng) % (i % 2 == 0 ? 4 : 12);  // a hot head and a tail
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
    // What the model is given is what the server holds before the step,
    // whether the row came from the cache or from a pull.
    std::vector<std::vector<float>> expected;
    for (int64_t k : keys) expected.push_back(server.slot(k));
    const auto grads = random_grads(rng, keys.size(), spec.dim);
    const auto before = cache.stats().hits;
    const auto rows = step(cache, server, keys, grads);
    hits += cache.stats().hits - before;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      for (int j = 0; j < spec.dim; ++j) {
        ASSERT_EQ(rows[i * spec.dim + j], expected[i][j]) << "step " << s << " key " << keys[i];
      }
    }
  }
  ASSERT_GT(hits, 0);
  for (int64_t k = 0; k < 12; ++k) {
    if (!cache.contains(k)) continue;
    const auto slot = server.slot(k);
    const auto row = cached_row(cache, k);
    for (int j = 0; j < spec.dim; ++j) EXPECT_EQ(row[j], slot[j]) << "key " << k << " dim " << j;
  }
}

INSTANTIATE_TEST_SUITE_P(Optimizers, WriteThrough,
                         ::testing::Values(ps::Optimizer::kRowwiseAdagrad, ps::Optimizer::kAdam));

TEST(RowCache, HitsAreServedWithoutAPullAndAssembleTheServersRows) {
  const ps::TableSpec spec = spec_of(ps::Optimizer::kRowwiseAdagrad);
  Server server(spec);
  RowCache cache(spec, 4, true, kernels::Device::cpu(), server.backing());
  std::mt19937 rng(1);
  step(cache, server, {1, 2}, random_grads(rng, 2, spec.dim));
  ASSERT_TRUE(cache.contains(1));
  ASSERT_TRUE(cache.contains(2));
  const auto expect1 = server.slot(1), expect2 = server.slot(2);
  const int pulls = server.pulls;
  // Keys 1 and 2 are hits now: nothing is pulled for them, and the rows the
  // model gets are the server's current rows.
  const auto rows = step(cache, server, {1, 2}, random_grads(rng, 2, spec.dim));
  EXPECT_EQ(server.pulls, pulls);
  for (int j = 0; j < spec.dim; ++j) {
    EXPECT_EQ(rows[j], expect1[j]);
    EXPECT_EQ(rows[spec.dim + j], expect2[j]);
  }
  EXPECT_EQ(cache.stats().hits, 2);
  EXPECT_EQ(cache.stats().lookups, 4);
}

TEST(RowCache, AMissIsAdmittedOnlyWhenSeenMoreOftenThanTheLeastSeenResident) {
  const ps::TableSpec spec = spec_of(ps::Optimizer::kRowwiseAdagrad);
  Server server(spec);
  RowCache cache(spec, 2, true, kernels::Device::cpu(), server.backing());
  std::mt19937 rng(2);
  auto once = [&](std::vector<int64_t> keys) {
    step(cache, server, keys, random_grads(rng, keys.size(), spec.dim));
  };
  once({10, 20});  // free slots: both admitted (seen 1 each)
  once({10});      // 10 seen 2
  once({30});      // seen 1, not more than 20's 1: stays out
  EXPECT_TRUE(cache.contains(10));
  EXPECT_TRUE(cache.contains(20));
  EXPECT_FALSE(cache.contains(30));
  once({30});  // seen 2 > 20's 1: evicts 20, the least seen
  EXPECT_TRUE(cache.contains(10));
  EXPECT_FALSE(cache.contains(20));
  EXPECT_TRUE(cache.contains(30));
  EXPECT_EQ(cache.stats().evicted, 1);
  EXPECT_EQ(cache.size(), 2);
}

TEST(RowCache, RowsHeldByABatchInFlightAreNotEvicted) {
  const ps::TableSpec spec = spec_of(ps::Optimizer::kRowwiseAdagrad);
  Server server(spec);
  RowCache cache(spec, 1, true, kernels::Device::cpu(), server.backing());
  std::mt19937 rng(4);
  step(cache, server, {5}, random_grads(rng, 1, spec.dim));
  ASSERT_TRUE(cache.contains(5));
  // The next batch (prepared first, as in async mode) holds key 5 ...
  int64_t held = -1;
  const int64_t five = 5;
  cache.lookup(&five, 1, &held);
  ASSERT_GE(held, 0);
  // ... so key 9, seen more often, cannot take its slot meanwhile.
  for (int i = 0; i < 3; ++i) step(cache, server, {9}, random_grads(rng, 1, spec.dim));
  EXPECT_TRUE(cache.contains(5));
  EXPECT_FALSE(cache.contains(9));
  cache.release(&held, 1);
  step(cache, server, {9}, random_grads(rng, 1, spec.dim));
  EXPECT_TRUE(cache.contains(9));
  EXPECT_FALSE(cache.contains(5));
}

TEST(RowCache, WriteBackSendsWhatEachChangedRowMovedAndRefreshReadsTheServer) {
  const ps::TableSpec spec = spec_of(ps::Optimizer::kRowwiseAdagrad);
  Server server(spec);
  RowCache cache(spec, 4, /*write_through=*/false, kernels::Device::cpu(), server.backing());
  std::mt19937 rng(5);
  step(cache, server, {1, 2}, random_grads(rng, 2, spec.dim));  // admitted (their push lands)
  const auto admitted1 = server.slot(1);
  // Hits in write-back mode: applied in the cache only, nothing pushed.
  step(cache, server, {1}, random_grads(rng, 1, spec.dim));
  step(cache, server, {1}, random_grads(rng, 1, spec.dim));
  EXPECT_EQ(server.slot(1), admitted1);
  const auto trained1 = cached_row(cache, 1);
  EXPECT_NE(trained1[0], admitted1[0]);
  cache.write_back();
  // Only key 1 changed since it was read; the server now holds its row.
  EXPECT_EQ(server.delta_keys, std::vector<int64_t>{1});
  const auto after = server.slot(1);
  for (int j = 0; j < spec.dim; ++j) EXPECT_NEAR(after[j], trained1[j], 1e-6f);
  EXPECT_GT(after[spec.dim], admitted1[spec.dim]) << "the Adagrad state moved too";
  // Another rank's change reaches the cache at the refresh.
  const int64_t one = 1;
  std::vector<float> other(static_cast<std::size_t>(spec.dim), 0.5f);
  server.table.push(&one, 1, other.data());
  cache.refresh();
  const auto refreshed = cached_row(cache, 1);
  const auto now = server.slot(1);
  for (int j = 0; j < spec.dim; ++j) EXPECT_EQ(refreshed[j], now[j]);
  // Nothing changed since: a second write-back sends nothing.
  server.delta_keys.clear();
  cache.write_back();
  EXPECT_TRUE(server.delta_keys.empty());
}

// Async mode: batch B of key K is pulled before batch A's push of K lands.
// K must not enter the cache from B's stale pull, or its cached copy would
// miss A's update for good (write-through never re-reads).
TEST(RowCache, AMissPulledBeforeItsLastPushLandedIsNotAdmittedFromThatPull) {
  const ps::TableSpec spec = spec_of(ps::Optimizer::kRowwiseAdagrad);
  Server server(spec);
  RowCache cache(spec, 1, /*write_through=*/true, kernels::Device::cpu(), server.backing());
  std::mt19937 rng(9);
  for (int i = 0; i < 2; ++i) step(cache, server, {1}, random_grads(rng, 1, spec.dim));
  ASSERT_TRUE(cache.contains(1));  // the resident, seen twice
  const int64_t k = 2, d = spec.dim, w = cache.width();
  std::vector<int64_t> push;
  // Batch A: key 2 a miss, its row pulled.
  int64_t slot_a = 0, slot_b = 0, slot_c = 0;
  const int64_t at_a = cache.lookup(&k, 1, &slot_a);
  std::vector<float> row_a(w), row_b(w);
  server.backing().pull_with_state(&k, 1, row_a.data());
  // Batch B, prepared while A computes: key 2 again, pulled before A's push.
  const int64_t at_b = cache.lookup(&k, 1, &slot_b);
  server.backing().pull_with_state(&k, 1, row_b.data());
  // A's update (key 2 seen twice, not more than the resident: stays out), push.
  const auto ga = random_grads(rng, 1, d);
  cache.update(&k, &slot_a, 1, ga.data(), ga.data(), row_a.data(), at_a, &push);
  ASSERT_FALSE(cache.contains(k));
  server.table.push(&k, 1, ga.data());
  // Batch C looked up (key 2 seen 3 times, more than the resident) ...
  cache.lookup(&k, 1, &slot_c);
  // ... before B's update, whose row predates A's push: not admitted from it.
  const auto gb = random_grads(rng, 1, d);
  cache.update(&k, &slot_b, 1, gb.data(), gb.data(), row_b.data(), at_b, &push);
  EXPECT_FALSE(cache.contains(k)) << "admitted from a pull that missed the previous push";
  server.table.push(&k, 1, gb.data());
  // A batch pulled after every push landed admits it, equal to the server.
  step(cache, server, {k}, random_grads(rng, 1, d));
  ASSERT_TRUE(cache.contains(k));
  const auto cached = cached_row(cache, k), held = server.slot(k);
  for (int j = 0; j < d; ++j) EXPECT_EQ(cached[j], held[j]) << j;
}

TEST(RowCache, TwoRanksDeltasToOneRowBothLand) {
  const ps::TableSpec spec = spec_of(ps::Optimizer::kRowwiseAdagrad);
  Server server(spec);
  RowCache a(spec, 4, false, kernels::Device::cpu(), server.backing());
  RowCache b(spec, 4, false, kernels::Device::cpu(), server.backing());
  std::mt19937 rng(8);
  // Both ranks admit key 3 (a's push lands first, so b reads it after).
  step(a, server, {3}, random_grads(rng, 1, spec.dim));
  step(b, server, {3}, random_grads(rng, 1, spec.dim));
  a.refresh();  // both now read the same server row
  const auto base = server.slot(3);
  step(a, server, {3}, random_grads(rng, 1, spec.dim));
  step(b, server, {3}, random_grads(rng, 1, spec.dim));
  const auto ra = cached_row(a, 3), rb = cached_row(b, 3);
  a.write_back();
  b.write_back();
  // Neither overwrote the other: the server moved by both ranks' changes.
  const auto now = server.slot(3);
  for (int j = 0; j < spec.dim; ++j) {
    EXPECT_NEAR(now[j], base[j] + (ra[j] - base[j]) + (rb[j] - base[j]), 1e-6f) << j;
  }
  a.refresh();
  b.refresh();
  EXPECT_EQ(cached_row(a, 3), cached_row(b, 3));
}

TEST(RowCache, AnEvictedChangedRowIsWrittenBack) {
  const ps::TableSpec spec = spec_of(ps::Optimizer::kRowwiseAdagrad);
  Server server(spec);
  RowCache cache(spec, 1, false, kernels::Device::cpu(), server.backing());
  std::mt19937 rng(6);
  step(cache, server, {7}, random_grads(rng, 1, spec.dim));
  step(cache, server, {7}, random_grads(rng, 1, spec.dim));  // changed in the cache only
  const auto trained = cached_row(cache, 7);
  // 7 has been seen 3 times (cached_row counts too): key 8 takes its slot
  // at its 4th sighting.
  for (int i = 0; i < 5; ++i) step(cache, server, {8}, random_grads(rng, 1, spec.dim));
  ASSERT_FALSE(cache.contains(7));
  ASSERT_EQ(server.delta_keys, std::vector<int64_t>{7});  // sent by step()'s send_evicted()
  const auto stored = server.slot(7);
  for (int j = 0; j < spec.dim; ++j) EXPECT_NEAR(stored[j], trained[j], 1e-6f);
  EXPECT_EQ(cache.stats().written_back, 1);
}

TEST(RowCache, WriteThroughPushesEveryGradientAndWriteBackOnlyTheMisses) {
  const ps::TableSpec spec = spec_of(ps::Optimizer::kRowwiseAdagrad);
  for (const bool through : {true, false}) {
    Server server(spec);
    RowCache cache(spec, 4, through, kernels::Device::cpu(), server.backing());
    std::mt19937 rng(7);
    step(cache, server, {1}, random_grads(rng, 1, spec.dim));
    const std::vector<int64_t> keys = {1, 2};  // 1 a hit, 2 a miss
    std::vector<int64_t> slots(2), push;
    const int64_t at = cache.lookup(keys.data(), 2, slots.data());
    std::vector<float> miss(static_cast<std::size_t>(cache.width()));
    server.backing().pull_with_state(&keys[1], 1, miss.data());
    const auto grads = random_grads(rng, 2, spec.dim);
    cache.update(keys.data(), slots.data(), 2, grads.data(), grads.data(), miss.data(), at, &push);
    cache.release(slots.data(), 2);
    EXPECT_EQ(push, through ? std::vector<int64_t>({0, 1}) : std::vector<int64_t>({1}));
  }
}

TEST(RowCache, RefusesAdamOnCudaAndAnEmptyCapacity) {
  const ps::TableSpec adam = spec_of(ps::Optimizer::kAdam);
  Server server(adam);
  try {
    RowCache cache(adam, 4, true, kernels::Device::cuda(), server.backing());
    FAIL() << "Adam on CUDA was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rowwise_adagrad"), std::string::npos) << e.what();
  }
  EXPECT_THROW(RowCache(adam, 0, true, kernels::Device::cpu(), server.backing()), Error);
}

}  // namespace
}  // namespace hybrec::trainer

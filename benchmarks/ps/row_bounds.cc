// What the row bounds of a table cost and save (ps.thrift TableSpec:
// admit_after, ttl_s), on one RowTable (dim 64, row-wise Adagrad), no
// sockets:
//
// BM_AdmissionZipf/admit_after:N: 4M training pulls of one key each, in
// requests of 4096, drawn Zipf(1.05) from 10M ids (a long tail: most ids
// appear once or twice). Counters: rows stored at the end, the table's
// bytes, and per-key pull time; admit_after 0 is the table without the
// filter, so stored(N) / stored(0) is what the filter saves and the time
// ratio what it costs.
//
// BM_EvictionSweep/rows:R: one TTL sweep over a table of R rows that all
// expire (the worst case a sweep meets), then the table refilled untimed.
// Counter: sweep time per million rows.
//
// BM_WarmPull/capped:C: pulls of 4,096 stored keys from a table of 1M rows,
// without a cap (C = 0) and with one far above the table (C = 1): what the
// cap costs a request that stores nothing.
//
// The Small cases are for the CI smoke test (--benchmark_filter=Small).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "parameter_server/store/row_table.h"
#include "parameter_server/wire/table_spec.h"

namespace hybrec::bench {
namespace {

namespace ps = hybrec::ps;

constexpr int kDim = 64;
constexpr int64_t kBatch = 4096;

ps::TableSpec bounds_spec(int admit_after, double ttl_s) {
  ps::TableSpec spec;
  spec.name = "bounds";
  spec.dim = kDim;
  spec.optimizer = ps::Optimizer::kRowwiseAdagrad;
  spec.admit_after = admit_after;
  spec.ttl_s = ttl_s;
  return spec;
}

// Zipf(s) draws over [0, ids) by inverting a precomputed CDF.
std::vector<int64_t> zipf_keys(int64_t ids, double s, int64_t n, uint64_t seed) {
  std::vector<double> cdf(static_cast<size_t>(ids));
  double total = 0;
  for (int64_t i = 0; i < ids; ++i) cdf[i] = total += 1.0 / std::pow(static_cast<double>(i + 1), s);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, total);
  std::vector<int64_t> keys(static_cast<size_t>(n));
  for (auto& k : keys) {
    const int64_t rank = std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin();
    // Spread ranks over int64 as hashed ids are.
    k = static_cast<int64_t>(static_cast<uint64_t>(rank) * 0x9e3779b97f4a7c15ULL);
  }
  return keys;
}

void admission_zipf(benchmark::State& state, int64_t ids, int64_t pulls) {
  const int admit_after = static_cast<int>(state.range(0));
  const std::vector<int64_t> keys = zipf_keys(ids, 1.05, pulls, 17);
  std::vector<float> rows(static_cast<size_t>(kBatch) * kDim);
  int64_t stored = 0, bytes = 0;
  for (auto _ : state) {
    ps::RowTable table(bounds_spec(admit_after, 0));
    for (int64_t i = 0; i < pulls; i += kBatch) {
      table.pull(keys.data() + i, std::min(kBatch, pulls - i), rows.data());
    }
    stored = table.size();
    bytes = table.bytes();
    benchmark::DoNotOptimize(rows.data());
  }
  state.counters["rows_stored"] = static_cast<double>(stored);
  state.counters["MiB"] = static_cast<double>(bytes) / (1 << 20);
  state.counters["ns_per_key"] = benchmark::Counter(
      static_cast<double>(pulls) * 1e-9,
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void eviction_sweep(benchmark::State& state) {
  const int64_t n = state.range(0);
  ps::RowTable table(bounds_spec(0, 1.0));
  std::vector<int64_t> keys(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    keys[i] = static_cast<int64_t>(static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL);
  std::vector<float> rows(keys.size() * kDim);
  table.pull(keys.data(), n, rows.data());
  int64_t evicted = 0;
  for (auto _ : state) {
    evicted = table.evict_expired(table.now_s() + 100);
    state.PauseTiming();
    table.pull(keys.data(), n, rows.data());
    state.ResumeTiming();
  }
  if (evicted != n) state.SkipWithError("the sweep did not evict every row");
  state.counters["ms_per_million_rows"] = benchmark::Counter(
      static_cast<double>(n) * 1e-9,
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void warm_pull(benchmark::State& state, int64_t rows_in_table) {
  ps::TableSpec spec = bounds_spec(0, 0);
  if (state.range(0) != 0) spec.max_rows = 4 * rows_in_table;
  ps::RowTable table(spec);
  std::vector<int64_t> keys(static_cast<size_t>(rows_in_table));
  for (int64_t i = 0; i < rows_in_table; ++i) {
    keys[i] = static_cast<int64_t>(static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL);
  }
  std::vector<float> rows(static_cast<size_t>(kBatch) * kDim);
  for (int64_t i = 0; i < rows_in_table; i += kBatch)
    table.pull(keys.data() + i, kBatch, rows.data());
  std::mt19937_64 rng(3);
  std::vector<int64_t> batch(static_cast<size_t>(kBatch));
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& k : batch) k = keys[rng() % keys.size()];
    state.ResumeTiming();
    table.pull(batch.data(), kBatch, rows.data());
  }
  if (table.size() != rows_in_table) state.SkipWithError("a warm pull stored rows");
  state.counters["ns_per_key"] = benchmark::Counter(
      static_cast<double>(kBatch) * 1e-9,
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_WarmPull(benchmark::State& state) { warm_pull(state, 1 << 20); }
void BM_WarmPullSmall(benchmark::State& state) { warm_pull(state, 1 << 14); }

void BM_AdmissionZipf(benchmark::State& state) { admission_zipf(state, 10'000'000, 4'000'000); }
void BM_AdmissionZipfSmall(benchmark::State& state) { admission_zipf(state, 100'000, 40'000); }
void BM_EvictionSweep(benchmark::State& state) { eviction_sweep(state); }
void BM_EvictionSweepSmall(benchmark::State& state) { eviction_sweep(state); }

BENCHMARK(BM_AdmissionZipf)
    ->ArgName("admit_after")
    ->Arg(0)
    ->Arg(2)
    ->Arg(4)
    ->Arg(8)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AdmissionZipfSmall)->ArgName("admit_after")->Arg(0)->Arg(4)->Iterations(1);
BENCHMARK(BM_EvictionSweep)
    ->ArgName("rows")
    ->Arg(1'000'000)
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WarmPull)->ArgName("capped")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_WarmPullSmall)->ArgName("capped")->Arg(0)->Arg(1);
BENCHMARK(BM_EvictionSweepSmall)->ArgName("rows")->Arg(10'000)->Iterations(2);

}  // namespace
}  // namespace hybrec::bench

// CPU embedding kernels at the trainer's shapes: a 1M-row table, dim 64 and
// 128, 4096 bags of 1, 20 or 50 uniform random rows, sum pooling. Each
// iteration uses the next of kIndexSets index sets, so the rows touched in
// one iteration are not still cached from the last one (a training step
// never sees the same batch twice). The device is Device::cpu(), so the
// index validation pre-pass is timed too. bytes_per_second counts bytes
// read plus bytes written (indices and offsets not counted);
// memcpy_bench/EmbeddingBagForward_128x20 moves exactly as many bytes as
// BM_EmbeddingBagForward/dim:128/len:20, so their ratio is the fraction of
// memory bandwidth reached. Rates are per wall-clock second (UseRealTime):
// the default, the main thread's CPU time, ignores the other OpenMP threads.
#include "hybrec/kernels/embedding.h"

#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <new>
#include <random>
#include <tuple>
#include <vector>

#include "limits.h"

namespace hybrec::bench {
namespace {

namespace hk = hybrec::kernels;

constexpr int64_t kRows = 1'000'000;
constexpr int64_t kBags = 4096;
constexpr int kIndexSets = 4;

// A table in 2 MB pages (transparent huge pages, as production CPU
// embedding stores use): with 4 KB pages every random row read also walks
// the page table, and the walk, not the bandwidth, sets the speed.
// `huge_pages = false` gives the 4 KB-page figure for comparison.
class HostTable {
 public:
  HostTable(int64_t rows, int64_t dim, bool huge_pages)
      : bytes_((static_cast<std::size_t>(rows * dim) * sizeof(float) + kHugePage - 1) / kHugePage *
               kHugePage) {
    data_ = static_cast<float*>(std::aligned_alloc(kHugePage, bytes_));
    if (data_ == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    if (huge_pages) madvise(data_, bytes_, MADV_HUGEPAGE);
#else
    (void)huge_pages;
#endif
    // Every page is written, so no page fault is timed.
    const std::size_t n = static_cast<std::size_t>(rows * dim);
    for (std::size_t i = 0; i < n; ++i) data_[i] = static_cast<float>(i % 1024) * 1e-3f;
  }
  ~HostTable() { std::free(data_); }
  HostTable(const HostTable&) = delete;
  HostTable& operator=(const HostTable&) = delete;
  float* data() { return data_; }

 private:
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;
  std::size_t bytes_;
  float* data_ = nullptr;
};

// One table per shape, shared by all benchmarks (filling 512 MB per
// benchmark would dominate the run).
HostTable& table_for(int64_t rows, int64_t dim, bool huge_pages = true) {
  static std::map<std::tuple<int64_t, int64_t, bool>, std::unique_ptr<HostTable>> tables;
  auto& slot = tables[{rows, dim, huge_pages}];
  if (!slot) slot = std::make_unique<HostTable>(rows, dim, huge_pages);
  return *slot;
}

struct IndexSet {
  std::vector<int64_t> indices;
  std::vector<int64_t> offsets;
  int64_t num_unique = 0;
};

std::vector<IndexSet> make_index_sets(int64_t rows, int64_t bags, int64_t len) {
  std::vector<IndexSet> sets(kIndexSets);
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> dist(0, rows - 1);
  for (auto& s : sets) {
    s.indices.resize(static_cast<std::size_t>(bags * len));
    for (auto& i : s.indices) i = dist(rng);
    s.offsets.resize(static_cast<std::size_t>(bags + 1));
    for (int64_t b = 0; b <= bags; ++b) s.offsets[b] = b * len;
    auto sorted = s.indices;
    std::sort(sorted.begin(), sorted.end());
    s.num_unique = std::unique(sorted.begin(), sorted.end()) - sorted.begin();
  }
  return sets;
}

hk::EmbeddingBags view(const IndexSet& s, int64_t bags) {
  hk::EmbeddingBags v;
  v.indices = s.indices.data();
  v.offsets = s.offsets.data();
  v.count = bags;
  v.num_indices = static_cast<int64_t>(s.indices.size());
  return v;
}

double mean_unique(const std::vector<IndexSet>& sets) {
  double sum = 0.0;
  for (const auto& s : sets) sum += static_cast<double>(s.num_unique);
  return sum / static_cast<double>(sets.size());
}

void set_bytes(benchmark::State& state, double bytes_per_iteration) {
  state.SetBytesProcessed(
      static_cast<int64_t>(bytes_per_iteration * static_cast<double>(state.iterations())));
}

void run_forward(benchmark::State& state, int64_t rows, int64_t bags, bool huge_pages = true) {
  const int64_t dim = state.range(0), len = state.range(1);
  auto& table = table_for(rows, dim, huge_pages);
  const auto sets = make_index_sets(rows, bags, len);
  std::vector<float> out(static_cast<std::size_t>(bags * dim));
  std::size_t it = 0;
  for (auto _ : state) {
    const auto& s = sets[it++ % sets.size()];
    hk::embedding_bag_forward(hk::Device::cpu(), table.data(), rows, dim, view(s, bags),
                              out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  // Rows read plus the pooled output written.
  set_bytes(state, 4.0 * static_cast<double>(bags * len * dim + bags * dim));
}

void run_gather(benchmark::State& state, int64_t rows, int64_t bags) {
  const int64_t dim = state.range(0), len = state.range(1);
  auto& table = table_for(rows, dim);
  const auto sets = make_index_sets(rows, bags, len);
  const int64_t n = bags * len;
  std::vector<float> out(static_cast<std::size_t>(n * dim));
  std::fill(out.begin(), out.end(), 0.0f);
  std::size_t it = 0;
  for (auto _ : state) {
    const auto& s = sets[it++ % sets.size()];
    hk::embedding_gather(hk::Device::cpu(), table.data(), rows, dim, s.indices.data(), n,
                         out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 2.0 * 4.0 * static_cast<double>(n * dim));  // rows read + rows written
}

void run_backward(benchmark::State& state, int64_t rows, int64_t bags) {
  const int64_t dim = state.range(0), len = state.range(1);
  const auto sets = make_index_sets(rows, bags, len);
  std::vector<float> grad_out(static_cast<std::size_t>(bags * dim), 0.25f);
  std::vector<int64_t> ids(static_cast<std::size_t>(bags * len));
  std::vector<float> grads(static_cast<std::size_t>(bags * len * dim), 0.0f);
  std::size_t it = 0;
  for (auto _ : state) {
    const auto& s = sets[it++ % sets.size()];
    benchmark::DoNotOptimize(hk::embedding_bag_backward(
        hk::Device::cpu(), view(s, bags), grad_out.data(), rows, dim, ids.data(), grads.data()));
    benchmark::ClobberMemory();
  }
  // grad_out read; unique ids and gradient rows written.
  const double k = mean_unique(sets);
  set_bytes(state,
            4.0 * static_cast<double>(bags * dim) + k * (8.0 + 4.0 * static_cast<double>(dim)));
}

void run_backward_adagrad(benchmark::State& state, int64_t rows, int64_t bags) {
  const int64_t dim = state.range(0), len = state.range(1);
  auto& table = table_for(rows, dim);
  std::vector<float> row_state(static_cast<std::size_t>(rows), 0.0f);
  const auto sets = make_index_sets(rows, bags, len);
  std::vector<float> grad_out(static_cast<std::size_t>(bags * dim), 1e-3f);
  hk::RowwiseAdagradParams params;
  params.learning_rate = 1e-3f;
  std::size_t it = 0;
  for (auto _ : state) {
    const auto& s = sets[it++ % sets.size()];
    hk::embedding_bag_backward_adagrad(hk::Device::cpu(), view(s, bags), grad_out.data(),
                                       table.data(), row_state.data(), rows, dim, params);
    benchmark::ClobberMemory();
  }
  // grad_out read; each unique row and its state read and written.
  const double k = mean_unique(sets);
  set_bytes(state,
            4.0 * static_cast<double>(bags * dim) + k * 2.0 * 4.0 * static_cast<double>(dim + 1));
}

void BM_EmbeddingBagForward(benchmark::State& state) { run_forward(state, kRows, kBags); }
void BM_EmbeddingBagForward4KPages(benchmark::State& state) {
  run_forward(state, kRows, kBags, /*huge_pages=*/false);
}
void BM_EmbeddingGather(benchmark::State& state) { run_gather(state, kRows, kBags); }
void BM_EmbeddingBagBackward(benchmark::State& state) { run_backward(state, kRows, kBags); }
void BM_EmbeddingBagBackwardAdagrad(benchmark::State& state) {
  run_backward_adagrad(state, kRows, kBags);
}

// Tiny shapes for the ctest smoke run (--benchmark_filter=Small).
constexpr int64_t kSmallRows = 1000, kSmallBags = 64;
void BM_EmbeddingBagForwardSmall(benchmark::State& state) {
  run_forward(state, kSmallRows, kSmallBags);
}
void BM_EmbeddingGatherSmall(benchmark::State& state) { run_gather(state, kSmallRows, kSmallBags); }
void BM_EmbeddingBagBackwardSmall(benchmark::State& state) {
  run_backward(state, kSmallRows, kSmallBags);
}
void BM_EmbeddingBagBackwardAdagradSmall(benchmark::State& state) {
  run_backward_adagrad(state, kSmallRows, kSmallBags);
}

void realistic_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"dim", "len"});
  for (int64_t dim : {64, 128}) {
    for (int64_t len : {1, 20, 50}) b->Args({dim, len});
  }
  b->Unit(benchmark::kMicrosecond)->UseRealTime();
}

BENCHMARK(BM_EmbeddingBagForward)->Apply(realistic_shapes);
BENCHMARK(BM_EmbeddingBagForward4KPages)
    ->ArgNames({"dim", "len"})
    ->Args({128, 20})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_EmbeddingGather)
    ->ArgNames({"dim", "len"})
    ->Args({64, 20})
    ->Args({128, 20})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_EmbeddingBagBackward)->Apply(realistic_shapes);
BENCHMARK(BM_EmbeddingBagBackwardAdagrad)->Apply(realistic_shapes);

// The limit at the same bytes as BM_EmbeddingBagForward/128/20: memcpy_bench
// counts 2 x its size, so half of (4096*20 rows + 4096 outputs) * 128 * 4.
BENCHMARK_CAPTURE(memcpy_bench, EmbeddingBagForward_128x20,
                  static_cast<std::size_t>((kBags * 20 + kBags) * 128 * 4 / 2))
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

BENCHMARK(BM_EmbeddingBagForwardSmall)->Args({16, 5})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EmbeddingGatherSmall)->Args({16, 5})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EmbeddingBagBackwardSmall)->Args({16, 5})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EmbeddingBagBackwardAdagradSmall)->Args({16, 5})->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace hybrec::bench

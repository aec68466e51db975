// The text-neighbour fill of model.unseen_item_neighbors (neighbor_rows.h)
// at a serving catalogue's scale: a fifth of the items untrained, K = 3,
// 64- and 384-dim text (hashing and all-MiniLM-L6-v2). Search: a fresh
// cache, so every fill runs the all-items top-k. Reused: the lists kept
// from the last fill (a serving rebuild whose untrained set and text did
// not change), so a fill is the text hash and the means.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "trainer/model/counter_rng.h"
#include "trainer/model/neighbor_rows.h"

namespace hybrec::trainer {
namespace {

constexpr int64_t kDim = 64, kNeighbors = 3;

struct Catalogue {
  Catalogue(int64_t n, int64_t text_dim)
      : text(static_cast<std::size_t>(n * text_dim)),
        rows(static_cast<std::size_t>(n * kDim)),
        unseen(static_cast<std::size_t>(n)) {
    for (std::size_t i = 0; i < text.size(); ++i) text[i] = counter_uniform(1, 2, i) - 0.5f;
    for (int64_t j = 0; j < n; ++j) {
      unseen[j] = j % 5 == 0;
      if (unseen[j]) continue;
      for (int64_t c = 0; c < kDim; ++c) {
        rows[j * kDim + c] = counter_uniform(3, 4, static_cast<uint64_t>(j * kDim + c)) - 0.5f;
      }
    }
  }
  std::vector<float> text, rows;
  std::vector<uint8_t> unseen;
};

void BM_NeighborFill(benchmark::State& state, bool reuse) {
  const int64_t n = state.range(0), text_dim = state.range(1);
  const Catalogue c(n, text_dim);
  std::vector<float> rows = c.rows;
  TextNeighborCache warm;
  if (reuse) warm.fill(c.text.data(), text_dim, n, kDim, c.unseen, kNeighbors, rows.data());
  for (auto _ : state) {
    TextNeighborCache fresh;
    TextNeighborCache& cache = reuse ? warm : fresh;
    cache.fill(c.text.data(), text_dim, n, kDim, c.unseen, kNeighbors, rows.data());
    benchmark::DoNotOptimize(rows.data());
  }
}

void Search(benchmark::State& state) { BM_NeighborFill(state, false); }
void Reused(benchmark::State& state) { BM_NeighborFill(state, true); }

BENCHMARK(Search)
    ->ArgNames({"items", "text_dim"})
    ->ArgsProduct({{10000, 100000}, {64, 384}})
    ->Unit(benchmark::kMillisecond);
BENCHMARK(Reused)
    ->ArgNames({"items", "text_dim"})
    ->ArgsProduct({{10000, 100000}, {64, 384}})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hybrec::trainer

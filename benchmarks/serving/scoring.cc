// Serving's scoring against FAISS in the same run, on one synthetic
// catalogue per size (catalogue.h, D = 128), k = 10, batches of 1, 16 and
// 256 queries:
//   BM_HybrecExact  the recommender's exact path: kernels::all_items_topk
//                   with B as the form (serving::exact_topk), U B included;
//   BM_FaissFlat    faiss::IndexFlatIP on the same items with y = x B given:
//                   the exhaustive peer, and the limit exact scoring is read
//                   against;
//   BM_HybrecIvf    the recommender's index path (serving::index_topk):
//                   y = x B, an IVF search for max(4k, 100) candidates,
//                   exact re-scores;
//   BM_FaissIvf     the same FAISS IndexIVFFlat searched for the top 10
//                   directly (no re-scoring): the approximate peer;
//   BM_FaissIvfCandidates  that search for BM_HybrecIvf's 100 candidates.
// Counters: queries/s, and (but for the candidates' search) recall@10
// against BM_HybrecExact's answers over all 256 queries (whatever the
// batch). Everything is multi-threaded (OpenMP), so times are wall-clock.
#include <benchmark/benchmark.h>
#include <faiss/IndexFlat.h>

#include <algorithm>
#include <map>
#include <memory>
#include <vector>

#include "catalogue.h"
#include "serving/candidates.h"

namespace {

namespace hs = hybrec::serving;
using hybrec::bench::CatalogueDraw;
using hybrec::bench::kScoreDim;

constexpr int64_t kQueries = 256, kK = 10;

struct Catalogue {
  std::unique_ptr<hs::ModelSnapshot> snapshot;  // with its IVF index once indexed
  std::vector<float> users;                     // [kQueries, D] x = [u', q]
  std::vector<float> queries;                   // [kQueries, D] y = x B, FAISS's input
  std::unique_ptr<faiss::IndexFlatIP> flat;     // FAISS's copy of the items
  std::vector<int64_t> exact;                   // [kQueries, kK] hybrec's exact answers
};

// Built once per size, on first use: the catalogue, FAISS's flat index and
// the exact answers.
Catalogue& catalogue(int64_t num_items) {
  static std::map<int64_t, std::unique_ptr<Catalogue>> built;
  std::unique_ptr<Catalogue>& c = built[num_items];
  if (c != nullptr) return *c;
  c = std::make_unique<Catalogue>();
  CatalogueDraw draw(42);
  c->snapshot = hybrec::bench::synthetic_snapshot(num_items, draw);
  const hs::ModelSnapshot& s = *c->snapshot;
  c->users.resize(static_cast<std::size_t>(kQueries * kScoreDim));
  for (int64_t q = 0; q < kQueries; ++q) draw.row(c->users.data() + q * kScoreDim);
  c->queries.assign(c->users.size(), 0.0f);
  for (int64_t q = 0; q < kQueries; ++q) {
    for (int64_t a = 0; a < kScoreDim; ++a) {
      for (int64_t b = 0; b < kScoreDim; ++b) {
        c->queries[q * kScoreDim + b] +=
            c->users[q * kScoreDim + a] * s.scoring_form[a * kScoreDim + b];
      }
    }
  }
  c->flat = std::make_unique<faiss::IndexFlatIP>(kScoreDim);
  c->flat->add(num_items, s.scoring_items.data());
  c->exact.resize(static_cast<std::size_t>(kQueries * kK));
  std::vector<float> scores(c->exact.size());
  hs::exact_topk(s, c->users.data(), kQueries, kK, nullptr, nullptr, c->exact.data(),
                 scores.data());
  return *c;
}

// The catalogue with its IVF index, built on first use (k-means included,
// as a snapshot build does; a minute or more at 1M items on two cores).
Catalogue& indexed_catalogue(int64_t num_items) {
  Catalogue& c = catalogue(num_items);
  if (c.snapshot->index == nullptr) {
    hs::IndexOptions options;
    options.kind = hs::IndexKind::kFaissIvf;
    std::vector<int64_t> ids(kQueries);
    for (int64_t q = 0; q < kQueries; ++q) ids[q] = q;
    hs::build_candidate_index(*c.snapshot, options, ids, c.users);
  }
  return c;
}

// The share of the exact top kK of all kQueries queries found by `search`,
// which writes [kQueries, kK] ids.
template <typename Search>
double recall(const Catalogue& c, Search search) {
  std::vector<int64_t> got(c.exact.size());
  search(got.data());
  int64_t hits = 0;
  for (int64_t q = 0; q < kQueries; ++q) {
    const auto first = c.exact.begin() + q * kK, last = first + kK;
    for (int64_t r = 0; r < kK; ++r) hits += std::count(first, last, got[q * kK + r]);
  }
  return static_cast<double>(hits) / static_cast<double>(c.exact.size());
}

void set_counters(benchmark::State& state, int64_t batch, double recall_at_k) {
  state.counters["queries/s"] =
      benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["recall@10"] = recall_at_k;
}

void BM_HybrecExact(benchmark::State& state) {
  Catalogue& c = catalogue(state.range(0));
  const int64_t batch = state.range(1);
  std::vector<int64_t> ids(static_cast<std::size_t>(batch * kK));
  std::vector<float> scores(ids.size());
  for (auto _ : state) {
    hs::exact_topk(*c.snapshot, c.users.data(), batch, kK, nullptr, nullptr, ids.data(),
                   scores.data());
    benchmark::DoNotOptimize(ids.data());
  }
  set_counters(state, batch, 1.0);
}

void BM_FaissFlat(benchmark::State& state) {
  Catalogue& c = catalogue(state.range(0));
  const int64_t batch = state.range(1);
  std::vector<faiss::Index::idx_t> ids(static_cast<std::size_t>(batch * kK));
  std::vector<float> scores(ids.size());
  for (auto _ : state) {
    c.flat->search(batch, c.queries.data(), kK, scores.data(), ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  set_counters(state, batch, recall(c, [&](int64_t* out) {
                 std::vector<float> all(c.exact.size());
                 c.flat->search(kQueries, c.queries.data(), kK, all.data(), out);
               }));
}

void BM_HybrecIvf(benchmark::State& state) {
  Catalogue& c = indexed_catalogue(state.range(0));
  const int64_t batch = state.range(1);
  c.snapshot->nprobe = state.range(2);
  std::vector<int64_t> ids(static_cast<std::size_t>(batch * kK));
  std::vector<float> scores(ids.size());
  for (auto _ : state) {
    hs::index_topk(*c.snapshot, c.users.data(), batch, kK, nullptr, nullptr, ids.data(),
                   scores.data());
    benchmark::DoNotOptimize(ids.data());
  }
  set_counters(state, batch, recall(c, [&](int64_t* out) {
                 std::vector<float> all(c.exact.size());
                 hs::index_topk(*c.snapshot, c.users.data(), kQueries, kK, nullptr, nullptr, out,
                                all.data());
               }));
}

void BM_FaissIvf(benchmark::State& state) {
  Catalogue& c = indexed_catalogue(state.range(0));
  const int64_t batch = state.range(1), nprobe = state.range(2);
  std::vector<int64_t> ids(static_cast<std::size_t>(batch * kK));
  for (auto _ : state) {
    c.snapshot->index->search(c.queries.data(), batch, kK, nprobe, ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  set_counters(state, batch, recall(c, [&](int64_t* out) {
                 c.snapshot->index->search(c.queries.data(), kQueries, kK, nprobe, out);
               }));
}

// The first step of BM_HybrecIvf alone: the same FAISS search for the 100
// candidates the index path re-scores (max(4k, 100) at k = 10), so that
// the gap to BM_FaissIvf splits into the larger search and the rest (y = x B,
// re-scoring, sorting).
void BM_FaissIvfCandidates(benchmark::State& state) {
  Catalogue& c = indexed_catalogue(state.range(0));
  const int64_t batch = state.range(1), nprobe = state.range(2), count = 100;
  std::vector<int64_t> ids(static_cast<std::size_t>(batch * count));
  for (auto _ : state) {
    c.snapshot->index->search(c.queries.data(), batch, count, nprobe, ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  set_counters(state, batch, 0.0);
}

// items 10,000 is the smoke test's size; the table uses 100k and 1M.
const std::vector<int64_t> kItems = {10000, 100000, 1000000}, kBatches = {1, 16, 256},
                           kNprobes = {16, 64};

BENCHMARK(BM_HybrecExact)
    ->ArgsProduct({kItems, kBatches})
    ->ArgNames({"items", "batch"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FaissFlat)
    ->ArgsProduct({kItems, kBatches})
    ->ArgNames({"items", "batch"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HybrecIvf)
    ->ArgsProduct({kItems, kBatches, kNprobes})
    ->ArgNames({"items", "batch", "nprobe"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FaissIvf)
    ->ArgsProduct({kItems, kBatches, kNprobes})
    ->ArgNames({"items", "batch", "nprobe"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FaissIvfCandidates)
    ->ArgsProduct({kItems, kBatches, kNprobes})
    ->ArgNames({"items", "batch", "nprobe"})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

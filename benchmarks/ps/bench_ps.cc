// Parameter-server throughput over loopback, next to the limit measured in
// the same run, and the row store's memory per row.
//
// BM_PsPull / BM_PsPush: one request of `keys` random distinct keys per
// iteration through a PsClient to `shards` in-process PsServers on
// 127.0.0.1, each benchmark thread (->Threads) with its own client (a
// PsClient is single-threaded). Keys come from a fixed universe whose rows
// were all pulled once before timing, so every request finds warm rows, as a
// training step mostly does. Each iteration uses the next of kKeySets key
// sets (different per thread), so one request's rows are not still in cache
// from the last.
//
// Counters are rates over wall-clock time, summed over benchmark threads:
// "rows" (keys per second) and "bytes" (payload per second: keys*8 +
// keys*dim*4 per request, pull and push alike; Thrift's framing is not
// counted). BM_LoopbackTcp moves exactly those bytes in the same round-trip
// shape over a bare socket, so bytes(BM_PsPull/X) / bytes(BM_LoopbackTcp/
// pull/X) at the same threads is the fraction of loopback bandwidth the
// whole PS path (routing, Thrift, row store, copies) keeps. The CPU column
// (MeasureProcessCPUTime) is the whole process's CPU time per request, servers
// and peer threads included; on a shared machine the CPU ratio of the two is
// steadier than the wall-clock one. benchmarks/ps/table.py prints both ratios
// from --benchmark_out JSON.
//
// BM_RowStoreBytesPerRow: the memory of a RowTable (dim 64, row-wise
// Adagrad) after inserting `rows` distinct keys, as RowTable::bytes() and as
// resident-set growth, per row and against the payload (64 + 1 floats). The
// 10M-row case takes ~10 s and ~3 GB; skip it with --benchmark_filter=-10000000
// or select the rest by name.
//
// Cases named Small are tiny, for the CI smoke test
// (--benchmark_filter=Small); full runs use --benchmark_filter=-Small.
#include <benchmark/benchmark.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "loopback.h"
#include "parameter_server/client/client.h"
#include "parameter_server/server/server.h"
#include "parameter_server/store/row_table.h"
#include "parameter_server/wire/table_spec.h"

namespace hybrec::bench {
namespace {

namespace ps = hybrec::ps;

constexpr int64_t kUniverse = int64_t{1} << 20;       // keys per table, all warm
constexpr int64_t kSmallUniverse = int64_t{1} << 14;  // the smoke cases'
constexpr int kKeySets = 4;
constexpr int64_t kPrepareChunk = 65536;  // keys per pull while warming a table

// Universe index -> key: a bijection (odd multiplier mod 2^64) that spreads
// the keys over int64 as real ids hashed upstream are.
int64_t universe_key(int64_t i) {
  return static_cast<int64_t>(static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL);
}

std::string table_name(int64_t dim, int64_t universe) {
  return "bench_d" + std::to_string(dim) + "_u" + std::to_string(universe);
}

// `shards` PsServers on 127.0.0.1 (port 0 each), serving on their own
// threads, with the tables the benchmarks asked for created and warmed.
class Cluster {
 public:
  explicit Cluster(int shards) : shards_(shards) {
    try {
      for (int i = 0; i < shards; ++i) {
        ps::ServerOptions options;
        options.port = 0;
        options.shard = ps::ShardId{i, shards};
        servers_.push_back(std::make_unique<ps::PsServer>(options));
        endpoints_.push_back(ps::Endpoint{"127.0.0.1", servers_.back()->port()});
        ps::PsServer* server = servers_.back().get();
        threads_.emplace_back([server] {
          try {
            server->serve();
          } catch (const std::exception& e) {
            std::fprintf(stderr, "bench_ps: shard server failed: %s\n", e.what());
          }
        });
      }
    } catch (...) {
      shut_down();  // no serving thread may outlive a half-built cluster
      throw;
    }
  }
  ~Cluster() { shut_down(); }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  int shards() const { return shards_; }
  const std::vector<ps::Endpoint>& endpoints() const { return endpoints_; }

  // Creates the table of this dim and universe once and pulls every key of
  // its universe, so the timed requests never insert. Returns its name.
  std::string prepare(int64_t dim, int64_t universe) {
    const std::string name = table_name(dim, universe);
    std::lock_guard<std::mutex> lock(mutex_);
    if (prepared_.count(name) != 0) return name;
    ps::TableSpec spec;
    spec.name = name;
    spec.dim = static_cast<int32_t>(dim);
    spec.optimizer = ps::Optimizer::kRowwiseAdagrad;
    ps::PsClient client(endpoints_);
    client.create_table(spec);
    std::vector<int64_t> keys(static_cast<size_t>(std::min(universe, kPrepareChunk)));
    std::vector<float> rows(keys.size() * static_cast<size_t>(dim));
    for (int64_t begin = 0; begin < universe; begin += kPrepareChunk) {
      const int64_t n = std::min(kPrepareChunk, universe - begin);
      for (int64_t i = 0; i < n; ++i) keys[static_cast<size_t>(i)] = universe_key(begin + i);
      client.pull(name, keys.data(), n, dim, rows.data()).wait();
    }
    prepared_.insert(name);
    return name;
  }

 private:
  void shut_down() {
    for (auto& server : servers_) server->stop();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
    servers_.clear();
  }

  const int shards_;
  std::vector<std::unique_ptr<ps::PsServer>> servers_;
  std::vector<std::thread> threads_;
  std::vector<ps::Endpoint> endpoints_;
  std::mutex mutex_;
  std::set<std::string> prepared_;
};

// The one live cluster. Keeping only one bounds memory to one shard count's
// warm tables (~1 GB for 1M keys at dim 64 and 128); asking for another
// shard count stops it once the last benchmark using it let go. The static
// is destroyed at exit, which stops the servers and joins their threads.
struct ClusterSlot {
  std::mutex mutex;
  std::shared_ptr<Cluster> cluster;
};

ClusterSlot& cluster_slot() {
  static ClusterSlot slot;
  return slot;
}

std::shared_ptr<Cluster> cluster_for(int shards) {
  ClusterSlot& slot = cluster_slot();
  std::lock_guard<std::mutex> lock(slot.mutex);
  if (!slot.cluster || slot.cluster->shards() != shards) {
    slot.cluster.reset();  // frees the old tables before the new ones fill
    slot.cluster = std::make_shared<Cluster>(shards);
  }
  return slot.cluster;
}

void release_cluster() {
  ClusterSlot& slot = cluster_slot();
  std::lock_guard<std::mutex> lock(slot.mutex);
  slot.cluster.reset();
}

// kKeySets requests of `keys` distinct keys each, uniform over the universe.
std::vector<std::vector<int64_t>> random_key_sets(int64_t keys, int64_t universe, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> perm(static_cast<size_t>(universe));
  std::iota(perm.begin(), perm.end(), int64_t{0});
  std::vector<std::vector<int64_t>> sets(kKeySets);
  for (auto& set : sets) {
    // A partial Fisher-Yates shuffle: the first `keys` entries are a uniform
    // random subset of the universe.
    for (int64_t j = 0; j < keys; ++j) {
      std::uniform_int_distribution<int64_t> pick(j, universe - 1);
      std::swap(perm[static_cast<size_t>(j)], perm[static_cast<size_t>(pick(rng))]);
    }
    set.resize(static_cast<size_t>(keys));
    for (int64_t j = 0; j < keys; ++j) {
      set[static_cast<size_t>(j)] = universe_key(perm[static_cast<size_t>(j)]);
    }
  }
  return sets;
}

struct PsCase {
  int64_t dim;
  int64_t keys;
  int shards;
  int64_t universe;
};

void ps_bench(benchmark::State& state, const PsCase& c, bool push) {
  // Declared before the client so the client (and its connections) goes
  // first when this thread is done.
  std::shared_ptr<Cluster> cluster;
  std::unique_ptr<ps::PsClient> client;
  std::string table;
  std::vector<std::vector<int64_t>> key_sets;
  std::vector<float> values;
  bool ok = true;
  try {
    cluster = cluster_for(c.shards);
    table = cluster->prepare(c.dim, c.universe);
    key_sets = random_key_sets(c.keys, c.universe,
                               1000 * static_cast<uint64_t>(state.thread_index()) + (push ? 1 : 0));
    values.resize(static_cast<size_t>(c.keys * c.dim));
    if (push) {
      // Small finite gradients: rows move little, never overflow, and the
      // server's finiteness check passes.
      std::mt19937 rng(static_cast<uint32_t>(state.thread_index()));
      std::uniform_real_distribution<float> grad(-1e-3f, 1e-3f);
      for (float& g : values) g = grad(rng);
    }
    client = std::make_unique<ps::PsClient>(cluster->endpoints());
    // The first call connects and checks each shard's health: not timed.
    std::vector<float> warm(values.size());
    client->pull(table, key_sets[0].data(), c.keys, c.dim, warm.data()).wait();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    ok = false;
  }

  int64_t next = 0;
  // On a failure the loop keeps turning without work, so that every
  // benchmark thread reaches the end-of-run barrier.
  for (auto _ : state) {
    if (!ok) continue;
    const int64_t* keys = key_sets[static_cast<size_t>(next++ % kKeySets)].data();
    try {
      if (push) {
        client->push(table, keys, c.keys, c.dim, values.data()).wait();
      } else {
        client->pull(table, keys, c.keys, c.dim, values.data()).wait();
      }
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      ok = false;
    }
  }
  benchmark::DoNotOptimize(values.data());
  client.reset();

  const double requests = static_cast<double>(state.iterations());
  const double bytes_per_request = static_cast<double>(c.keys * 8 + c.keys * c.dim * 4);
  state.counters["rows"] =
      benchmark::Counter(requests * static_cast<double>(c.keys), benchmark::Counter::kIsRate);
  state.counters["bytes"] =
      benchmark::Counter(requests * bytes_per_request, benchmark::Counter::kIsRate);
}

// Resident set size of this process, from /proc/self/statm (Linux).
int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  return statm ? resident_pages * static_cast<int64_t>(::sysconf(_SC_PAGESIZE)) : -1;
}

void row_store_bytes_bench(benchmark::State& state, int64_t rows) {
  constexpr int64_t kDim = 64;
  constexpr int64_t kChunk = 65536;
  ps::TableSpec spec;
  spec.name = "bytes_per_row";
  spec.dim = kDim;
  spec.optimizer = ps::Optimizer::kRowwiseAdagrad;
  const int64_t payload_per_row = (kDim + ps::state_floats(spec)) * 4;

  // The PS cases' warm tables would blur the resident-set figure; free them
  // and hand free heap back to the kernel so the growth is this table's.
  release_cluster();
  std::vector<int64_t> keys(kChunk);
  std::vector<float> out(static_cast<size_t>(kChunk * kDim), 0.0f);
  std::unique_ptr<ps::RowTable> table;
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  const int64_t rss_before = resident_bytes();
  for (auto _ : state) {
    table.reset();
    table = std::make_unique<ps::RowTable>(spec);
    for (int64_t begin = 0; begin < rows; begin += kChunk) {
      const int64_t n = std::min(kChunk, rows - begin);
      for (int64_t i = 0; i < n; ++i) keys[static_cast<size_t>(i)] = universe_key(begin + i);
      table->pull(keys.data(), n, out.data());
    }
    benchmark::DoNotOptimize(out.data());
  }
  const int64_t rss_after = resident_bytes();
  const double stored = static_cast<double>(table->size());
  const double bytes_per_row = static_cast<double>(table->bytes()) / stored;
  const double rss_per_row = static_cast<double>(rss_after - rss_before) / stored;
  state.counters["rows"] = benchmark::Counter(stored);
  state.counters["bytes_per_row"] = benchmark::Counter(bytes_per_row);
  state.counters["payload_per_row"] = benchmark::Counter(static_cast<double>(payload_per_row));
  state.counters["ratio"] = benchmark::Counter(bytes_per_row / payload_per_row);
  state.counters["rss_per_row"] = benchmark::Counter(rss_per_row);
  state.counters["rss_ratio"] = benchmark::Counter(rss_per_row / payload_per_row);
  state.counters["inserts"] = benchmark::Counter(static_cast<double>(state.iterations()) * stored,
                                                 benchmark::Counter::kIsRate);
  table.reset();
}

std::string ps_name(const char* op, const char* tag, const PsCase& c) {
  return std::string(op) + tag + "/dim:" + std::to_string(c.dim) +
         "/keys:" + std::to_string(c.keys) + "/shards:" + std::to_string(c.shards);
}

void register_ps(const PsCase& c, const char* tag, const std::vector<int>& threads) {
  for (const bool push : {false, true}) {
    auto* b = benchmark::RegisterBenchmark(
        ps_name(push ? "BM_PsPush" : "BM_PsPull", tag, c).c_str(),
        [c, push](benchmark::State& state) { ps_bench(state, c, push); });
    // Wall-clock rates: the work runs on client and server threads, not on
    // the benchmark thread alone.
    b->UseRealTime()->MeasureProcessCPUTime();
    for (int t : threads) b->Threads(t);
  }
}

void register_loopback(int64_t dim, int64_t keys, const char* tag,
                       const std::vector<int>& threads) {
  const int64_t key_bytes = keys * 8, row_bytes = keys * dim * 4;
  const std::string shape = "/dim:" + std::to_string(dim) + "/keys:" + std::to_string(keys);
  // pull: keys out, rows back. push: keys and gradients out, an 8-byte
  // acknowledgement back (not counted), as a push's empty Thrift reply.
  const RoundTrip pull{key_bytes, row_bytes, key_bytes + row_bytes, keys};
  const RoundTrip push{key_bytes + row_bytes, 8, key_bytes + row_bytes, keys};
  for (const auto& [kind, trip] : {std::pair{"/pull", pull}, std::pair{"/push", push}}) {
    auto* b = benchmark::RegisterBenchmark(
        (std::string("BM_LoopbackTcp") + tag + kind + shape).c_str(),
        [trip = trip](benchmark::State& state) { loopback_tcp_bench(state, trip); });
    b->UseRealTime()->MeasureProcessCPUTime();
    for (int t : threads) b->Threads(t);
  }
}

void register_row_store(int64_t rows, const char* tag) {
  benchmark::RegisterBenchmark(
      ("BM_RowStoreBytesPerRow" + std::string(tag) + "/rows:" + std::to_string(rows)).c_str(),
      [rows](benchmark::State& state) { row_store_bytes_bench(state, rows); })
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

bool register_all() {
  // Smoke cases: every code path (threads included), in well under a second.
  register_ps({16, 256, 2, kSmallUniverse}, "/Small", {1, 2});
  register_loopback(16, 256, "/Small", {1, 2});
  register_row_store(100'000, "/Small");

  // Loopback limits first, so a table of results reads limit-then-PS; then
  // the PS cases grouped by shard count so each cluster starts and warms
  // its tables once.
  const std::vector<int> threads = {1, 2, 4};
  for (const int64_t dim : {64, 128}) {
    for (const int64_t keys : {4096, 65536}) register_loopback(dim, keys, "", threads);
  }
  for (const int shards : {1, 2, 4}) {
    for (const int64_t dim : {64, 128}) {
      for (const int64_t keys : {4096, 65536}) {
        register_ps({dim, keys, shards, kUniverse}, "", threads);
      }
    }
  }
  register_row_store(10'000'000, "");
  return true;
}

[[maybe_unused]] const bool registered = register_all();

}  // namespace
}  // namespace hybrec::bench

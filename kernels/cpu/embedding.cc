// CPU embedding kernels. Every op is a random walk over a table far larger
// than the caches, so the speed comes from keeping many cache misses in
// flight: each loop prefetches the rows it will need kPrefetchAhead
// positions later (the hardware prefetchers cannot guess random rows), and
// OpenMP hands each core chunks of consecutive bags or runs.
#include "cpu/embedding.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace hybrec::kernels::cpu {
namespace {

// Rows fetched this many positions ahead. One core keeps about 20 cache
// misses in flight; 8 rows of dim >= 64 ahead fill that with room to spare
// for the 200-350 ns DRAM latency measured on the 2-core build VM, and a
// row's lines arrive long before L1 could evict them. 4 to 16 measured alike.
constexpr int64_t kPrefetchAhead = 8;
// Below this many floats touched, a parallel region costs more than it saves.
constexpr int64_t kParallelMinWork = int64_t{1} << 15;
// The backward's sort of a typical batch (~100K ids) takes well under a
// millisecond on one core; splitting it costs several barriers per pass,
// and each barrier waits a whole scheduler slice when a core is busy with
// anything else. Sort in parallel only above this many ids.
constexpr int64_t kParallelSortMin = int64_t{1} << 18;

// Prefetches every cache line of `bytes` starting at `p` (p need not be aligned).
template <int kWrite = 0>
inline void prefetch_bytes(const void* p, int64_t bytes) {
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const auto end = begin + static_cast<std::uintptr_t>(bytes);
  for (std::uintptr_t line = begin & ~std::uintptr_t{63}; line < end; line += 64) {
    __builtin_prefetch(reinterpret_cast<const void*>(line), kWrite, 3);
  }
}

inline int64_t bag_begin(const EmbeddingBags& bags, int64_t b) {
  return bags.offsets != nullptr ? bags.offsets[b] : b;
}

// --- forward ---------------------------------------------------------------

template <bool kWeighted>
void bag_forward(const float* table, int64_t dim, const EmbeddingBags& bags, float* out) {
  const int64_t* indices = bags.indices;
  const float* weights = bags.per_sample_weights;
  const int64_t num_indices = bags.num_indices;
  const bool mean = bags.pooling == Pooling::kMean;
  const int64_t row_bytes = dim * static_cast<int64_t>(sizeof(float));
#pragma omp parallel if (num_indices * dim > kParallelMinWork)
  {
    // The bag's sum lives in this L1-resident buffer and is written to `out`
    // once, so `out` is not read back while the bag accumulates.
    std::vector<float> acc_buffer(static_cast<std::size_t>(dim));
    float* acc = acc_buffer.data();
    // Chunks of bags, handed out dynamically so that a core shared with
    // another process does not hold the other one at the closing barrier.
#pragma omp for schedule(dynamic, 64)
    for (int64_t b = 0; b < bags.count; ++b) {
      const int64_t begin = bag_begin(bags, b), end = bag_begin(bags, b + 1);
      std::fill(acc, acc + dim, 0.0f);
      for (int64_t p = begin; p < end; ++p) {
        // Positions are contiguous across a chunk's bags, so the look-ahead
        // runs on into the next bag.
        if (p + kPrefetchAhead < num_indices) {
          prefetch_bytes(table + indices[p + kPrefetchAhead] * dim, row_bytes);
        }
        const float* row = table + indices[p] * dim;
        if constexpr (kWeighted) {
          const float w = weights[p];
          for (int64_t j = 0; j < dim; ++j) acc[j] += w * row[j];
        } else {
          for (int64_t j = 0; j < dim; ++j) acc[j] += row[j];
        }
      }
      const float scale = (mean && end > begin) ? 1.0f / static_cast<float>(end - begin) : 1.0f;
      float* dst = out + b * dim;
      for (int64_t j = 0; j < dim; ++j) dst[j] = acc[j] * scale;
    }
  }
}

// --- backward: sort positions by row id, then sum each run -------------------

// Per-thread scratch reused across calls: the backward's arrays are a few MB
// for a realistic batch, and fresh allocations of that size are fresh pages
// that the kernel must fault in and zero on every step.
struct Workspace {
  std::vector<uint64_t> keys, keys_tmp;
  std::vector<int32_t> values, values_tmp;  // bag, or position when scaled
  std::vector<int32_t> bag_of;
  std::vector<float> coef;
  std::vector<int64_t> seg_start;
  std::vector<int64_t> histogram;
};

Workspace& workspace() {
  thread_local Workspace ws;
  return ws;
}

// Stable LSD radix sort of (key, value) pairs on the low `key_bits` bits,
// 11 bits per pass (a 1M-row table takes 2 passes). Each thread histograms
// and scatters its own contiguous chunk; offsets are laid out bucket-major,
// thread-minor, which keeps equal keys in position order.
void radix_sort_pairs(Workspace& ws, int64_t n, int key_bits) {
  constexpr int kRadixBits = 11;
  constexpr int64_t kBuckets = int64_t{1} << kRadixBits;
  const int max_threads = omp_get_max_threads();
  ws.histogram.resize(static_cast<std::size_t>(max_threads * kBuckets));
  for (int shift = 0; shift < key_bits; shift += kRadixBits) {
    const uint64_t* keys = ws.keys.data();
    const int32_t* values = ws.values.data();
    uint64_t* keys_out = ws.keys_tmp.data();
    int32_t* values_out = ws.values_tmp.data();
    int64_t* histogram = ws.histogram.data();
#pragma omp parallel if (n > kParallelSortMin)
    {
      const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
      const int64_t lo = n * t / threads, hi = n * (t + 1) / threads;
      int64_t* mine = histogram + t * kBuckets;
      std::fill(mine, mine + kBuckets, int64_t{0});
      for (int64_t i = lo; i < hi; ++i) ++mine[(keys[i] >> shift) & (kBuckets - 1)];
#pragma omp barrier
#pragma omp single
      {
        int64_t running = 0;
        for (int64_t bucket = 0; bucket < kBuckets; ++bucket) {
          for (int64_t u = 0; u < threads; ++u) {
            const int64_t count = histogram[u * kBuckets + bucket];
            histogram[u * kBuckets + bucket] = running;
            running += count;
          }
        }
      }
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t slot = mine[(keys[i] >> shift) & (kBuckets - 1)]++;
        keys_out[slot] = keys[i];
        values_out[slot] = values[i];
      }
    }
    ws.keys.swap(ws.keys_tmp);
    ws.values.swap(ws.values_tmp);
  }
}

// Sorts the bags' positions by row id and finds the runs of equal ids.
// Afterwards: ws.keys sorted with ws.values alongside, ws.seg_start[0..k]
// the run starts (ws.seg_start[k] == n). A value is the position's bag when
// every coefficient is 1 (ws.coef empty); else it is the position p, with
// ws.bag_of[p] its bag and ws.coef[p] = w[p] / len. Returns k.
int64_t plan_segments(Workspace& ws, const EmbeddingBags& bags, int64_t num_rows) {
  const int64_t n = bags.num_indices;
  const bool scaled = bags.per_sample_weights != nullptr || bags.pooling == Pooling::kMean;
  ws.keys.resize(n);
  ws.keys_tmp.resize(n);
  ws.values.resize(n);
  ws.values_tmp.resize(n);
  ws.bag_of.resize(scaled ? n : 0);
  ws.coef.resize(scaled ? n : 0);
#pragma omp parallel if (n > kParallelSortMin)
  {
#pragma omp for schedule(static) nowait
    for (int64_t p = 0; p < n; ++p) ws.keys[p] = static_cast<uint64_t>(bags.indices[p]);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < bags.count; ++b) {
      const int64_t begin = bag_begin(bags, b), end = bag_begin(bags, b + 1);
      const float inv_len = (bags.pooling == Pooling::kMean && end > begin)
                                ? 1.0f / static_cast<float>(end - begin)
                                : 1.0f;
      for (int64_t p = begin; p < end; ++p) {
        if (scaled) {
          ws.values[p] = static_cast<int32_t>(p);
          ws.bag_of[p] = static_cast<int32_t>(b);
          const float w = bags.per_sample_weights != nullptr ? bags.per_sample_weights[p] : 1.0f;
          ws.coef[p] = w * inv_len;
        } else {
          ws.values[p] = static_cast<int32_t>(b);
        }
      }
    }
  }
  int key_bits = 0;
  while (key_bits < 63 && (uint64_t{1} << key_bits) < static_cast<uint64_t>(num_rows)) ++key_bits;
  radix_sort_pairs(ws, n, key_bits);

  ws.seg_start.clear();
  ws.seg_start.reserve(n + 1);
  for (int64_t i = 0; i < n; ++i) {
    if (i == 0 || ws.keys[i] != ws.keys[i - 1]) ws.seg_start.push_back(i);
  }
  const int64_t num_unique = static_cast<int64_t>(ws.seg_start.size());
  ws.seg_start.push_back(n);
  return num_unique;
}

// g[0..dim) = sum over the run s of coef * grad_out[bag], in position order.
template <bool kScaled>
inline void sum_segment(const Workspace& ws, const float* grad_out, int64_t dim, int64_t s,
                        float* g) {
  const int64_t begin = ws.seg_start[s], end = ws.seg_start[s + 1];
  for (int64_t i = begin; i < end; ++i) {
    const int32_t value = ws.values[i];
    const int64_t bag = kScaled ? ws.bag_of[value] : value;
    const float* src = grad_out + bag * dim;
    const float c = kScaled ? ws.coef[value] : 1.0f;
    if (i == begin) {
      for (int64_t j = 0; j < dim; ++j) g[j] = kScaled ? c * src[j] : src[j];
    } else {
      for (int64_t j = 0; j < dim; ++j) g[j] += kScaled ? c * src[j] : src[j];
    }
  }
}

// Runs fn(first_run, end_run, scratch) over chunks of runs handed out
// dynamically, with `scratch` a per-thread buffer of dim floats. Dynamic
// chunks keep both cores busy when one run is much longer than the others
// (a hot id) or when a core is shared with another process.
template <typename Fn>
void parallel_over_segments(const Workspace& ws, int64_t num_unique, int64_t dim, Fn&& fn) {
  constexpr int64_t kChunk = 256;
  const int64_t n = ws.seg_start[num_unique];
  const int64_t chunks = (num_unique + kChunk - 1) / kChunk;
#pragma omp parallel if ((n + num_unique) * dim > kParallelMinWork)
  {
    std::vector<float> scratch(static_cast<std::size_t>(dim));
#pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < chunks; ++c) {
      fn(c * kChunk, std::min(num_unique, (c + 1) * kChunk), scratch.data());
    }
  }
}

}  // namespace

void embedding_gather(const float* table, int64_t dim, const int64_t* indices, int64_t n,
                      float* out) {
  const int64_t row_bytes = dim * static_cast<int64_t>(sizeof(float));
#pragma omp parallel for schedule(static) if (n * dim > kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n)
      prefetch_bytes(table + indices[i + kPrefetchAhead] * dim, row_bytes);
    std::memcpy(out + i * dim, table + indices[i] * dim, static_cast<std::size_t>(row_bytes));
  }
}

void embedding_bag_forward(const float* table, int64_t dim, const EmbeddingBags& bags, float* out) {
  if (bags.per_sample_weights != nullptr) {
    bag_forward<true>(table, dim, bags, out);
  } else {
    bag_forward<false>(table, dim, bags, out);
  }
}

int64_t embedding_bag_backward(const EmbeddingBags& bags, const float* grad_out, int64_t num_rows,
                               int64_t dim, int64_t* unique_ids, float* unique_grads) {
  Workspace& ws = workspace();
  const int64_t num_unique = plan_segments(ws, bags, num_rows);
  const bool scaled = !ws.coef.empty();
  parallel_over_segments(ws, num_unique, dim, [&](int64_t s0, int64_t s1, float*) {
    for (int64_t s = s0; s < s1; ++s) {
      unique_ids[s] = static_cast<int64_t>(ws.keys[ws.seg_start[s]]);
      float* g = unique_grads + s * dim;
      if (scaled) {
        sum_segment<true>(ws, grad_out, dim, s, g);
      } else {
        sum_segment<false>(ws, grad_out, dim, s, g);
      }
    }
  });
  return num_unique;
}

void rowwise_adagrad_update(float* table, float* state, int64_t dim, const int64_t* unique_ids,
                            const float* unique_grads, int64_t num_unique,
                            const RowwiseAdagradParams& params) {
  const int64_t row_bytes = dim * static_cast<int64_t>(sizeof(float));
#pragma omp parallel for schedule(static) if (num_unique * dim > kParallelMinWork)
  for (int64_t i = 0; i < num_unique; ++i) {
    if (i + kPrefetchAhead < num_unique) {
      const int64_t ahead = unique_ids[i + kPrefetchAhead];
      prefetch_bytes<1>(table + ahead * dim, row_bytes);
      prefetch_bytes<1>(state + ahead, sizeof(float));
    }
    const int64_t r = unique_ids[i];
    rowwise_adagrad_row(table + r * dim, state + r, unique_grads + i * dim, dim, params);
  }
}

void adam_update(float* table, float* m, float* v, int64_t dim, const int64_t* unique_ids,
                 const float* unique_grads, int64_t num_unique, const AdamParams& params) {
  const int64_t row_bytes = dim * static_cast<int64_t>(sizeof(float));
#pragma omp parallel for schedule(static) if (num_unique * dim > kParallelMinWork)
  for (int64_t i = 0; i < num_unique; ++i) {
    if (i + kPrefetchAhead < num_unique) {
      const int64_t ahead = unique_ids[i + kPrefetchAhead] * dim;
      prefetch_bytes<1>(table + ahead, row_bytes);
      prefetch_bytes<1>(m + ahead, row_bytes);
      prefetch_bytes<1>(v + ahead, row_bytes);
    }
    const int64_t r = unique_ids[i] * dim;
    adam_row(table + r, m + r, v + r, unique_grads + i * dim, dim, params);
  }
}

void embedding_bag_backward_adagrad(const EmbeddingBags& bags, const float* grad_out, float* table,
                                    float* state, int64_t num_rows, int64_t dim,
                                    const RowwiseAdagradParams& params) {
  Workspace& ws = workspace();
  const int64_t num_unique = plan_segments(ws, bags, num_rows);
  const bool scaled = !ws.coef.empty();
  const int64_t row_bytes = dim * static_cast<int64_t>(sizeof(float));
  parallel_over_segments(ws, num_unique, dim, [&](int64_t s0, int64_t s1, float* g) {
    for (int64_t s = s0; s < s1; ++s) {
      if (s + kPrefetchAhead < num_unique) {
        const auto ahead = static_cast<int64_t>(ws.keys[ws.seg_start[s + kPrefetchAhead]]);
        prefetch_bytes<1>(table + ahead * dim, row_bytes);
        prefetch_bytes<1>(state + ahead, sizeof(float));
      }
      if (scaled) {
        sum_segment<true>(ws, grad_out, dim, s, g);
      } else {
        sum_segment<false>(ws, grad_out, dim, s, g);
      }
      const auto r = static_cast<int64_t>(ws.keys[ws.seg_start[s]]);
      rowwise_adagrad_row(table + r * dim, state + r, g, dim, params);
    }
  });
}

}  // namespace hybrec::kernels::cpu

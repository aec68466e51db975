// The CUDA backward's first half: the bags' positions sorted by row id
// (CUB radix sort on the id's significant bits only), and the walk over a
// run of equal ids that the segment kernels share.
//
// No run-length encoding pass: a group that starts on the first slot of a
// run (keys[i - 1] != keys[i]) walks it LANES slots at a time, a ballot
// finding where the run ends; groups on other slots return at once. The
// fused update needs nothing more; the plain backward adds a scan of the
// run-head flags to place each run's output row.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cub/cub.cuh>

#include "cuda/embedding_tile.cuh"

namespace hybrec::kernels::cuda::embedding {

// Freed memory stays in the stream-ordered pool instead of going back to
// the driver at every synchronisation (the default threshold is 0), so the
// backward's per-call scratch costs no page mapping after the first call.
// Set once per device (the first 64 devices).
inline void keep_pool_memory() {
  static std::atomic<uint64_t> done_mask{0};
  int device = 0;
  HYBREC_CUDA_CHECK(cudaGetDevice(&device));
  const uint64_t bit = uint64_t{1} << (device % 64);
  if (done_mask.load(std::memory_order_relaxed) & bit) return;
  cudaMemPool_t pool;
  HYBREC_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  uint64_t threshold = UINT64_MAX;
  HYBREC_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  done_mask.fetch_or(bit, std::memory_order_relaxed);
}

// One stream-ordered allocation carved into 256-byte-aligned pieces. The
// pieces are taken twice: once before allocate() to measure, once after.
class Scratch {
 public:
  Scratch() = default;
  ~Scratch() {
    if (base_ != nullptr) cudaFreeAsync(base_, stream_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  void allocate(cudaStream_t stream) {
    keep_pool_memory();
    stream_ = stream;
    HYBREC_CUDA_CHECK(cudaMallocAsync(&base_, std::max<std::size_t>(used_, 1), stream_));
    used_ = 0;
  }
  template <typename T>
  T* take(std::size_t count) {
    T* p = base_ == nullptr ? nullptr : reinterpret_cast<T*>(static_cast<char*>(base_) + used_);
    used_ += (count * sizeof(T) + 255) / 256 * 256;
    return p;
  }

 private:
  cudaStream_t stream_ = nullptr;
  void* base_ = nullptr;
  std::size_t used_ = 0;
};

// The sorted slots. Key is uint32_t when every row id fits in 32 bits (half
// the sort's key traffic), else uint64_t. A slot's value is its bag when
// every coefficient is 1, else its position, whose bag and coefficient
// w[p] / len(bag) are looked up in bag_of and coef.
template <typename Key>
struct Slots {
  const Key* keys;
  const int32_t* values;
  const int32_t* bag_of;
  const float* coef;
  int64_t n;
};

// Fills the sort's input: the values, the side tables and, for 32-bit
// keys, the narrowed ids. One warp per bag, so the writes are coalesced.
template <typename Key>
__global__ void __launch_bounds__(kBlockThreads)
    prepare_sort_kernel(const int64_t* __restrict__ indices, const int64_t* __restrict__ offsets,
                        const float* __restrict__ weights, int64_t count, bool mean, bool scaled,
                        Key* __restrict__ keys, int32_t* __restrict__ values,
                        int32_t* __restrict__ bag_of, float* __restrict__ coef) {
  const int lane = threadIdx.x % 32;
  for (int64_t b = group_id<32>(); b < count; b += group_stride<32>()) {
    const int64_t begin = offsets != nullptr ? offsets[b] : b;
    const int64_t end = offsets != nullptr ? offsets[b + 1] : b + 1;
    const float inv_len = (mean && end > begin) ? 1.0f / static_cast<float>(end - begin) : 1.0f;
    for (int64_t p = begin + lane; p < end; p += 32) {
      if constexpr (sizeof(Key) == 4) keys[p] = static_cast<Key>(indices[p]);
      if (scaled) {
        values[p] = static_cast<int32_t>(p);
        bag_of[p] = static_cast<int32_t>(b);
        coef[p] = __fmul_rn(weights != nullptr ? weights[p] : 1.0f, inv_len);
      } else {
        values[p] = static_cast<int32_t>(b);
      }
    }
  }
}

template <typename Key>
__device__ __forceinline__ bool is_run_head(const Slots<Key>& slots, int64_t i, Key key) {
  return i == 0 || slots.keys[i - 1] != key;
}

// This lane's vector c of the gradient of the run that starts at slot
// `head`: the sum over its slots, in slot (= position) order, of
// coef * grad_out[bag].
template <typename Vec, int LANES, bool SCALED, typename Key>
__device__ __forceinline__ Vec run_sum(const Slots<Key>& slots, int64_t head, Key key,
                                       const Vec* __restrict__ grad_out, int64_t row_vecs,
                                       int64_t c, bool active, int lane, unsigned mask) {
  Vec acc = vzero(Vec{});
  int64_t base = head;
  int n = 0;
  do {
    const int64_t i = base + lane;
    const bool inside = i < slots.n;
    // The value is loaded with the key, not after the ballot, to save a round trip.
    const int32_t value = inside ? slots.values[i] : 0;
    // Keys are sorted, so the run's slots are a prefix of the group's lanes.
    n = __popc(__ballot_sync(mask, inside && slots.keys[i] == key) & mask);
    int64_t my_bag = value;
    float my_coef = 1.0f;
    if (SCALED && lane < n) {
      my_bag = slots.bag_of[value];
      my_coef = slots.coef[value];
    }
    acc = add_rows<Vec, LANES, SCALED, kRunUnroll>(acc, grad_out, row_vecs, c, active, n, my_bag,
                                                   my_coef, mask);
    base += LANES;
  } while (n == LANES);
  return acc;
}

// unique_ids[out] and unique_grads[out] for each run, out = run_out[head].
template <typename Vec, int LANES, bool SCALED, typename Key>
__global__ void __launch_bounds__(kBlockThreads)
    run_grad_kernel(Slots<Key> slots, const int32_t* __restrict__ run_out,
                    const Vec* __restrict__ grad_out, int64_t row_vecs,
                    int64_t* __restrict__ unique_ids, Vec* __restrict__ unique_grads) {
  const int lane = threadIdx.x % LANES;
  const unsigned mask = group_mask<LANES>();
  for (int64_t i = group_id<LANES>(); i < slots.n; i += group_stride<LANES>()) {
    const Key key = slots.keys[i];
    if (!is_run_head(slots, i, key)) continue;
    const int64_t out = run_out[i];
    if (lane == 0) unique_ids[out] = static_cast<int64_t>(key);
    for (int64_t c0 = 0; c0 < row_vecs; c0 += LANES) {
      const int64_t c = c0 + lane;
      const bool active = c < row_vecs;
      const Vec g =
          run_sum<Vec, LANES, SCALED>(slots, i, key, grad_out, row_vecs, c, active, lane, mask);
      if (active) unique_grads[out * row_vecs + c] = g;
    }
  }
}

// Segment-sum and row-wise Adagrad in one pass: each run's gradient goes
// straight into its row's update.
template <typename Vec, int LANES, bool SCALED, typename Key>
__global__ void __launch_bounds__(kBlockThreads)
    run_adagrad_kernel(Slots<Key> slots, const Vec* __restrict__ grad_out, int64_t row_vecs,
                       int64_t dim, Vec* __restrict__ table, float* __restrict__ state,
                       RowwiseAdagradParams params) {
  const int lane = threadIdx.x % LANES;
  const unsigned mask = group_mask<LANES>();
  for (int64_t i = group_id<LANES>(); i < slots.n; i += group_stride<LANES>()) {
    const Key key = slots.keys[i];
    if (!is_run_head(slots, i, key)) continue;
    const auto r = static_cast<int64_t>(key);
    adagrad_row<Vec, LANES>(table + r * row_vecs, state + r, row_vecs, dim, lane, mask, params,
                            [&](int64_t c, bool active) {
                              return run_sum<Vec, LANES, SCALED>(slots, i, key, grad_out, row_vecs,
                                                                 c, active, lane, mask);
                            });
  }
}

// flags[i] = 1 where slot i starts a run, for i < n; flags[n] = 0, so the
// exclusive scan's last entry is the number of runs.
template <typename Key>
__global__ void run_head_flags_kernel(const Key* __restrict__ keys, int64_t n,
                                      int32_t* __restrict__ flags) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i <= n;
       i += stride) {
    flags[i] = (i < n && (i == 0 || keys[i - 1] != keys[i])) ? 1 : 0;
  }
}

// Sorts the bags' slots and calls fn(slots, scaled) while the scratch is
// alive. extra(scratch) takes fn's own pieces of the same allocation; it
// runs twice, once to measure and once to assign them.
template <typename Key, typename ExtraFn, typename Fn>
void with_sorted_slots_as(const EmbeddingBags& bags, int key_bits, cudaStream_t stream,
                          ExtraFn&& extra, Fn&& fn) {
  const int n = static_cast<int>(bags.num_indices);
  const bool scaled = bags.per_sample_weights != nullptr || bags.pooling == Pooling::kMean;
  const bool narrow = sizeof(Key) == 4;
  Scratch scratch;
  std::size_t sort_bytes = 0;
  Key* keys = nullptr;
  Key* keys_sorted = nullptr;
  int32_t *values = nullptr, *values_sorted = nullptr, *bag_of = nullptr;
  float* coef = nullptr;
  void* temp = nullptr;
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) scratch.allocate(stream);
    keys = narrow ? scratch.take<Key>(n) : nullptr;
    keys_sorted = scratch.take<Key>(n);
    values = scratch.take<int32_t>(n);
    values_sorted = scratch.take<int32_t>(n);
    bag_of = scratch.take<int32_t>(scaled ? n : 0);
    coef = scratch.take<float>(scaled ? n : 0);
    if (pass == 0) {
      HYBREC_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
          nullptr, sort_bytes, keys, keys_sorted, values, values_sorted, n, 0, key_bits, stream));
    }
    temp = scratch.take<char>(sort_bytes);
    extra(scratch);
  }
  const Key* keys_in = narrow ? keys : reinterpret_cast<const Key*>(bags.indices);
  HYBREC_LAUNCH(prepare_sort_kernel<Key>, blocks_for_groups(bags.count, 32), kBlockThreads, 0,
                stream, bags.indices, bags.offsets, bags.per_sample_weights, bags.count,
                bags.pooling == Pooling::kMean, scaled, keys, values, bag_of, coef);
  HYBREC_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, sort_bytes, keys_in, keys_sorted, values,
                                                    values_sorted, n, 0, key_bits, stream));
  fn(Slots<Key>{keys_sorted, values_sorted, bag_of, coef, n}, scaled);
}

// Picks the key width from num_rows and runs with_sorted_slots_as.
template <typename ExtraFn, typename Fn>
void with_sorted_slots(const EmbeddingBags& bags, int64_t num_rows, cudaStream_t stream,
                       ExtraFn&& extra, Fn&& fn) {
  int key_bits = 1;
  while (key_bits < 64 && (uint64_t{1} << key_bits) < static_cast<uint64_t>(num_rows)) ++key_bits;
  if (key_bits <= 32) {
    with_sorted_slots_as<uint32_t>(bags, key_bits, stream, extra, fn);
  } else {
    with_sorted_slots_as<uint64_t>(bags, key_bits, stream, extra, fn);
  }
}

}  // namespace hybrec::kernels::cuda::embedding

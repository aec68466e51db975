// Device side of the CUDA all-items top-k: one thread block per user merges
// one tile of scores into that user's running top-k.
//
// Shared memory holds 4096 64-bit keys (cpu/bilinear_topk_key.h: a larger
// key ranks first, so a plain unsigned compare gives descending score with
// ties to the lower item id, whatever order candidates arrive in):
//   keys[0, k2)            the user's current best, sorted descending, k2 the
//                          power of two >= k, zeros (the "no key" sentinel)
//                          beyond the kept count and always beyond k;
//   keys[k2, k2 + room)    new candidates, appended through a warp-aggregated
//                          shared atomic; room is the largest power of two
//                          that fits, so they can be sorted in place.
// A score becomes a candidate only when its key beats the current k-th best
// key (the threshold) and the item is not excluded (binary search in the
// user's sorted exclusion list). When the next scan step could overflow the
// room, or at the end of the tile, the candidates are bitonic-sorted and
// merged into the best list with one bitonic merge: max(best[i],
// fresh[k2 - 1 - i]) is a bitonic sequence holding the top k2 of the union.
// The threshold then rises to the new k-th key, so after the first tiles
// almost every score is rejected by one compare.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cpu/bilinear_topk_key.h"
#include "cuda/bilinear_common.cuh"

namespace hybrec::kernels::cuda::bilinear {

constexpr int kSelectThreads = 256;
constexpr int kSelectCapacity = 4096;  // keys: 32 KiB of shared memory
constexpr int kScoresPerThread = 4;    // one float4 per thread per scan step
constexpr int kScanStep = kSelectThreads * kScoresPerThread;

template <typename Index>
struct SelectTileArgs {
  const float* scores = nullptr;  // [users in block, pitch], this tile's columns
  int64_t pitch = 0;              // multiple of 4 (float4 loads)
  int64_t tile_items = 0;         // valid columns
  int64_t first_item = 0;         // item id of column 0
  int64_t user_base = 0;          // user id of row 0
  int k = 0;
  int k2 = 0;    // power of two >= k
  int room = 0;  // power of two, k2 + room <= kSelectCapacity, room >= 2 * kScanStep
  const int64_t* exclude_offsets = nullptr;  // global CSR offsets or nullptr
  const Index* excluded_sorted = nullptr;    // each user's list sorted ascending
  uint64_t* state_keys = nullptr;            // [users in block, k] best keys so far
  int* state_count = nullptr;                // [users in block]
  bool first_tile = false;
  bool last_tile = false;
  Index* top_items = nullptr;   // [num_users, k], written on the last tile
  float* top_scores = nullptr;  // [num_users, k]
};

// One bitonic pass over keys[0, n) (n a power of two) for sequences of
// length `size`: direction alternates per block of `size`, so with size == n
// it merges a bitonic sequence into descending order. Ends with a barrier.
__device__ inline void bitonic_pass(uint64_t* keys, int n, int size) {
  for (int stride = size >> 1; stride > 0; stride >>= 1) {
    for (int t = threadIdx.x; t < n / 2; t += blockDim.x) {
      const int lo = 2 * t - (t & (stride - 1));
      const int hi = lo + stride;
      const bool descending = (lo & size) == 0;
      const uint64_t a = keys[lo];
      const uint64_t b = keys[hi];
      if ((a < b) == descending) {
        keys[lo] = b;
        keys[hi] = a;
      }
    }
    __syncthreads();
  }
}

__device__ inline void bitonic_sort_descending(uint64_t* keys, int n) {
  for (int size = 2; size <= n; size <<= 1) bitonic_pass(keys, n, size);
}

template <typename Index>
__device__ inline bool sorted_contains(const Index* sorted, int64_t n, int64_t item) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) >> 1;
    if (static_cast<int64_t>(sorted[mid]) < item) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < n && static_cast<int64_t>(sorted[lo]) == item;
}

// Merges the `fresh_count` candidates at keys[k2, ...) into keys[0, k2) and
// returns the new kept count. Called by every thread with uniform arguments,
// after a barrier that published the candidates.
__device__ inline int merge_candidates(uint64_t* keys, int k, int k2, int kept, int fresh_count) {
  uint64_t* fresh = keys + k2;
  int fresh2 = 1;
  while (fresh2 < fresh_count) fresh2 <<= 1;
  for (int i = fresh_count + threadIdx.x; i < fresh2; i += blockDim.x) fresh[i] = 0;
  __syncthreads();
  bitonic_sort_descending(fresh, fresh2);
  for (int i = threadIdx.x; i < k2; i += blockDim.x) {
    const int j = k2 - 1 - i;
    const uint64_t candidate = j < fresh2 ? fresh[j] : 0;
    if (candidate > keys[i]) keys[i] = candidate;
  }
  __syncthreads();
  bitonic_pass(keys, k2, k2);
  for (int i = k + threadIdx.x; i < k2; i += blockDim.x) keys[i] = 0;
  __syncthreads();
  return min(kept + fresh_count, k);
}

template <typename Index>
__global__ void __launch_bounds__(kSelectThreads)
    select_tile_kernel(const SelectTileArgs<Index> a) {
  __shared__ uint64_t keys[kSelectCapacity];
  __shared__ int fresh_count;
  const int row = blockIdx.x;
  const int lane = threadIdx.x & 31;
  const int k = a.k;
  uint64_t* state = a.state_keys + static_cast<int64_t>(row) * k;

  int kept = a.first_tile ? 0 : a.state_count[row];
  for (int i = threadIdx.x; i < a.k2; i += blockDim.x) keys[i] = i < kept ? state[i] : 0;
  if (threadIdx.x == 0) fresh_count = 0;
  const Index* excluded = nullptr;
  int64_t excluded_count = 0;
  if (a.exclude_offsets != nullptr) {
    const int64_t user = a.user_base + row;
    const int64_t begin = a.exclude_offsets[user];
    excluded = a.excluded_sorted + begin;
    excluded_count = a.exclude_offsets[user + 1] - begin;
  }
  __syncthreads();
  uint64_t threshold = kept == k ? keys[k - 1] : 0;

  const float* row_scores = a.scores + static_cast<int64_t>(row) * a.pitch;
  for (int64_t base = 0; base < a.tile_items; base += kScanStep) {
    // Uniform: read after the barrier ending the previous step, and the
    // barrier below keeps this step's appends from changing it under a
    // thread that has not read it yet.
    const int pending = fresh_count;
    __syncthreads();
    if (pending + kScanStep > a.room) {
      kept = merge_candidates(keys, k, a.k2, kept, pending);
      threshold = kept == k ? keys[k - 1] : 0;
      if (threadIdx.x == 0) fresh_count = 0;
      __syncthreads();
    }
    const int64_t j = base + static_cast<int64_t>(threadIdx.x) * kScoresPerThread;
    float s[kScoresPerThread];
    if (j + kScoresPerThread <= a.tile_items) {
      const float4 v = *reinterpret_cast<const float4*>(row_scores + j);
      s[0] = v.x;
      s[1] = v.y;
      s[2] = v.z;
      s[3] = v.w;
    } else {
#pragma unroll
      for (int e = 0; e < kScoresPerThread; ++e) {
        s[e] = j + e < a.tile_items ? row_scores[j + e] : -INFINITY;
      }
    }
#pragma unroll
    for (int e = 0; e < kScoresPerThread; ++e) {
      const int64_t item = a.first_item + j + e;
      uint64_t key = 0;
      bool take = false;
      if (s[e] > -INFINITY) {  // false for NaN, -inf and the padding past the tile
        key = topk_key(s[e], item);
        take = key > threshold &&
               !(excluded_count > 0 && sorted_contains(excluded, excluded_count, item));
      }
      const unsigned mask = __ballot_sync(kFullMask, take);
      if (mask != 0) {
        int slot = 0;
        if (lane == 0) slot = atomicAdd(&fresh_count, __popc(mask));
        slot = __shfl_sync(kFullMask, slot, 0);
        if (take) keys[a.k2 + slot + __popc(mask & ((1u << lane) - 1u))] = key;
      }
    }
    __syncthreads();
  }
  const int pending = fresh_count;
  if (pending > 0) kept = merge_candidates(keys, k, a.k2, kept, pending);

  if (a.last_tile) {
    const int64_t out = (a.user_base + row) * static_cast<int64_t>(k);
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
      const bool valid = i < kept;
      a.top_items[out + i] = valid ? static_cast<Index>(topk_key_item(keys[i])) : Index(-1);
      a.top_scores[out + i] = valid ? topk_key_score(keys[i]) : -INFINITY;
    }
  } else {
    for (int i = threadIdx.x; i < kept; i += blockDim.x) state[i] = keys[i];
    if (threadIdx.x == 0) a.state_count[row] = kept;
  }
}

// First position whose excluded id lies outside [0, num_items).
template <typename Index>
__global__ void find_bad_exclusion_kernel(const Index* ids, int64_t count, int64_t num_items,
                                          unsigned long long* first_bad) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
       i += stride) {
    const int64_t id = static_cast<int64_t>(ids[i]);
    if (id < 0 || id >= num_items) atomicMin(first_bad, static_cast<unsigned long long>(i));
  }
}

}  // namespace hybrec::kernels::cuda::bilinear

// Building blocks of the dense CUDA kernels (linear.cu, layer_norm.cu,
// activation.cu, losses.cu): vector loads, grid-stride indices, row-group
// reductions, the row loop that keeps shuffles converged, column sums in a
// fixed order (column_sum.cu), and stream-ordered scratch memory.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "cuda/check.h"

namespace hybrec::kernels::cuda::dense {

constexpr int kBlock = 256;
constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// ---------------------------------------------------------------------------
// V consecutive floats; V == 4 moves them as one float4 (16-byte) access, so
// callers use it only when the pointer is 16-byte aligned.
template <int V>
__device__ __forceinline__ void load(const float* ptr, float (&v)[V]) {
  if constexpr (V == 4) {
    const float4 t = *reinterpret_cast<const float4*>(ptr);
    v[0] = t.x;
    v[1] = t.y;
    v[2] = t.z;
    v[3] = t.w;
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] = ptr[k];
  }
}

template <int V>
__device__ __forceinline__ void store(float* ptr, const float (&v)[V]) {
  if constexpr (V == 4) {
    *reinterpret_cast<float4*>(ptr) = make_float4(v[0], v[1], v[2], v[3]);
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) ptr[k] = v[k];
  }
}

inline bool aligned16(const void* ptr) {
  return ptr == nullptr || reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0;
}

// ---------------------------------------------------------------------------
// Reductions over a group of kThreads consecutive threads: a sub-warp or warp
// (kThreads <= 32, shuffles only) or the whole block (kThreads == kBlock,
// through 32 floats of shared memory). Every thread of the group gets the
// same bits: the xor butterfly adds the same pairs on every lane.
struct Sum {
  __device__ static float identity() { return 0.0f; }
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct Max {
  __device__ static float identity() { return -INFINITY; }
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <int kWidth, typename Op>
__device__ __forceinline__ float warp_reduce(float v, Op op) {
#pragma unroll
  for (int offset = kWidth / 2; offset > 0; offset /= 2) {
    v = op(v, __shfl_xor_sync(kFullMask, v, offset));
  }
  return v;
}

template <int kThreads, typename Op>
__device__ __forceinline__ float group_reduce(float v, Op op, float* scratch) {
  static_assert(kThreads <= 32 || kThreads == kBlock, "a row group is a (sub-)warp or the block");
  if constexpr (kThreads <= 32) {
    return warp_reduce<kThreads>(v, op);
  } else {
    v = warp_reduce<32>(v, op);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();  // the previous reduction's readers are done with scratch
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < kThreads / 32 ? scratch[lane] : Op::identity();
    return warp_reduce<32>(v, op);
  }
}

template <int kThreads>
__device__ __forceinline__ float group_sum(float v, float* scratch) {
  return group_reduce<kThreads>(v, Sum{}, scratch);
}

template <int kThreads>
__device__ __forceinline__ float group_max(float v, float* scratch) {
  return group_reduce<kThreads>(v, Max{}, scratch);
}

// ---------------------------------------------------------------------------
// Row kernels give each row to a group of kThreads threads (kBlock / kThreads
// rows per block) and stride over rows. Sub-warp groups of one warp advance
// together, so the full-mask shuffles in group_reduce always see every lane:
// a group whose row is past the end runs the loop with an empty row
// (valid == false, length 0) instead of leaving it.
template <int kThreads>
struct RowLoop {
  static constexpr int kRowsPerBlock = kBlock / kThreads;
  int tid;              // thread index inside the group
  int64_t row;          // current row of this group
  int64_t warp_offset;  // row - (first row of the warp's groups)
  int64_t stride;

  __device__ RowLoop()
      : tid(threadIdx.x % kThreads),
        row(static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kThreads),
        warp_offset(kThreads < 32 ? (threadIdx.x % 32) / kThreads : 0),
        stride(static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {}
  __device__ bool active(int64_t n) const { return row - warp_offset < n; }
  __device__ void next() { row += stride; }
};

template <int kThreads>
unsigned row_grid(int64_t n) {
  return grid_for(n, kBlock / kThreads);
}

// Calls launch(std::integral_constant<int, kThreads>, std::integral_constant<int, V>)
// with the row-group size for `dim` and float4 access when every pointer
// allows it. Small rows share a warp so all lanes load; rows past 1024 get a
// whole block, because a warp per row would re-read rows larger than L1 can
// hold for all resident warps.
template <typename Launch>
void for_row_shape(int64_t dim, bool vectorisable, Launch&& launch) {
  using V1 = std::integral_constant<int, 1>;
  using V4 = std::integral_constant<int, 4>;
  const bool vec = vectorisable && dim % 4 == 0;
  auto with_vec = [&](auto threads) {
    if (vec) {
      launch(threads, V4{});
    } else {
      launch(threads, V1{});
    }
  };
  if (dim <= 64) {
    with_vec(std::integral_constant<int, 16>{});
  } else if (dim <= 1024) {
    with_vec(std::integral_constant<int, 32>{});
  } else {
    with_vec(std::integral_constant<int, kBlock>{});
  }
}

// ---------------------------------------------------------------------------
// Column sums over rows, deterministic: stage one sums fixed chunks of rows
// into partials [chunks, cols] (a 32-column x 8-row thread tile, coalesced
// along columns), stage two adds the chunks in order into the output (+=).
// The chunking depends only on the shape.
constexpr int kColTile = 32;
constexpr int kColRows = 8;

struct ColumnChunks {
  int64_t rows;   // rows per chunk
  int64_t count;  // chunks (gridDim.y of stage one, <= 512)
};

inline ColumnChunks column_chunks(int64_t n, int64_t cols) {
  // Up to 512 chunks fill an H100 (2 x 132 SMs' worth of blocks even for 64
  // columns) while keeping each thread's serial sum long enough to amortise;
  // wide outputs get fewer chunks so the partials stay under 16 MB (they
  // have enough column tiles to fill the GPU anyway).
  constexpr int64_t kMaxChunks = 512, kMinRows = 32, kMaxPartials = int64_t{1} << 22;
  int64_t max_chunks = kMaxPartials / cols;
  max_chunks = max_chunks < 1 ? 1 : (max_chunks > kMaxChunks ? kMaxChunks : max_chunks);
  int64_t rows = (n + max_chunks - 1) / max_chunks;
  if (rows < kMinRows) rows = kMinRows;
  return {rows, (n + rows - 1) / rows};
}

// Reduces the kColRows partial sums of a column tile in shared memory, in a
// fixed order; returns the total on threadIdx.y == 0.
__device__ __forceinline__ float tile_column_total(float v, float (&tile)[kColRows][kColTile + 1]) {
  tile[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  float total = 0.0f;
  if (threadIdx.y == 0) {
#pragma unroll
    for (int k = 0; k < kColRows; ++k) total += tile[k][threadIdx.x];
  }
  return total;
}

inline dim3 column_grid(int64_t cols, int64_t chunks) {
  return dim3(static_cast<unsigned>((cols + kColTile - 1) / kColTile),
              static_cast<unsigned>(chunks));
}

inline const dim3 kColBlock(kColTile, kColRows);

// In column_sum.cu:
// out[j] += sum over chunks c of partials[c][j], chunks in order.
void add_partials_to(const float* partials, int64_t chunks, int64_t cols, float* out,
                     cudaStream_t stream);
// out[j] += sum over rows r of a[r][j], a [n, cols] (both stages).
void add_column_sums(const float* a, int64_t n, int64_t cols, float* out, cudaStream_t stream);

// ---------------------------------------------------------------------------
// Temporary device memory, allocated and released in stream order
// (cudaMallocAsync/cudaFreeAsync): no device-wide synchronisation, and the
// memory pool makes repeated per-step allocations cheap.
class StreamScratch {
 public:
  StreamScratch(std::size_t floats, cudaStream_t stream) : stream_(stream) {
    HYBREC_CUDA_CHECK(
        cudaMallocAsync(reinterpret_cast<void**>(&data_), floats * sizeof(float), stream_));
  }
  ~StreamScratch() { cudaFreeAsync(data_, stream_); }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
  float* data() const { return data_; }

 private:
  cudaStream_t stream_;
  float* data_ = nullptr;
};

}  // namespace hybrec::kernels::cuda::dense

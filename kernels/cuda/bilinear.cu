// CUDA backend of the bilinear ops. GEMMs go to cuBLAS (full fp32); the row
// dots, row scalings, the fused score and the top-k selection are
// hand-written kernels.
#include <algorithm>
#include <climits>
#include <cub/device/device_segmented_sort.cuh>
#include <memory>
#include <vector>

#include "cuda/bilinear.h"
#include "cuda/bilinear_common.cuh"
#include "cuda/bilinear_topk.cuh"

namespace hybrec::kernels::cuda {
namespace bilinear {
namespace {

constexpr int kWarpsPerBlock = kBlock / 32;
// The fused backward reduces per-block partial sums in a fixed order; a fixed
// block count keeps the sum's rounding independent of the GPU's scheduling.
constexpr int kReduceBlocks = 256;

// out[r] = dot(a[r, :], b[r, :]). One warp per row: rows are short (dim is
// typically 32-256), so a warp covers a row in a few coalesced strides.
__global__ void row_dot_kernel(const float* a, const float* b, int64_t rows, int64_t dim,
                               float* out) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t r = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + (threadIdx.x >> 5); r < rows;
       r += warps) {
    const float* x = a + r * dim;
    const float* y = b + r * dim;
    float acc = 0.0f;
    for (int64_t j = lane; j < dim; j += 32) acc = fmaf(x[j], y[j], acc);
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) acc += __shfl_xor_sync(kFullMask, acc, offset);
    if (lane == 0) out[r] = acc;
  }
}

// out[r, :] = scale[r] * in[r, :]; in == out is allowed. One block row-strip
// per blockIdx.y step keeps the row index a division-free loop variable.
__global__ void scale_rows_kernel(const float* scale, const float* in, int64_t rows, int64_t dim,
                                  float* out) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const float s = scale[r];
    for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < dim;
         j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      out[r * dim + j] = s * in[r * dim + j];
    }
  }
}

void scale_rows(const float* scale, const float* in, int64_t rows, int64_t dim, float* out,
                cudaStream_t stream) {
  const dim3 grid(grid_for(dim, kBlock, 64), static_cast<unsigned>(std::min<int64_t>(rows, 65535)));
  HYBREC_LAUNCH(scale_rows_kernel, grid, kBlock, 0, stream, scale, in, rows, dim, out);
}

__global__ void fused_score_forward_kernel(const float* z, const float* g, const float* lambda,
                                           int64_t batch, float* out) {
  const float lam = *lambda;
  const float inv_norm = 1.0f / sqrtf(1.0f + lam * lam);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < batch;
       b += stride) {
    out[b] = (z[b] + lam * g[b]) * inv_norm;
  }
}

// dz, dg elementwise; each block also writes its partial of
// sum_b dout * (g - lambda z) (in double) to partial[blockIdx.x].
__global__ void fused_score_backward_kernel(const float* z, const float* g, const float* lambda,
                                            const float* dout, int64_t batch, float* dz, float* dg,
                                            double* partial) {
  __shared__ double warp_sums[kWarpsPerBlock];
  const float lam = *lambda;
  const float inv_norm = 1.0f / sqrtf(1.0f + lam * lam);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  double sum = 0.0;
  for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < batch;
       b += stride) {
    const float d = dout[b];
    const float zb = z[b];
    const float gb = g[b];
    sum += static_cast<double>(d) * (static_cast<double>(gb) - static_cast<double>(lam) * zb);
    dz[b] = d * inv_norm;
    dg[b] = d * lam * inv_norm;
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) sum += __shfl_xor_sync(kFullMask, sum, offset);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    double block_sum = 0.0;
    for (int w = 0; w < kWarpsPerBlock; ++w) block_sum += warp_sums[w];
    partial[blockIdx.x] = block_sum;
  }
}

// *dlambda += (sum of partials) / (1 + lambda^2)^{3/2}, one block, fixed order.
__global__ void fused_score_dlambda_kernel(const double* partial, int count, const float* lambda,
                                           float* dlambda) {
  __shared__ double sums[kBlock];
  double sum = 0.0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) sum += partial[i];
  sums[threadIdx.x] = sum;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half >>= 1) {
    if (threadIdx.x < half) sums[threadIdx.x] += sums[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const double lam = *lambda;
    const double norm2 = 1.0 + lam * lam;
    *dlambda += static_cast<float>(sums[0] / (norm2 * sqrt(norm2)));
  }
}

// ---------------------------------------------------------------------------
// All-items top-k, host side.
//
// Users go in blocks of kUserBlock; per block, UW = U_block W, then the items
// in tiles of kItemTile: cuBLAS writes S_tile = UW V_tile^T into one
// users x kItemTile buffer (16 MiB at 1024 users: it stays in the 50 MiB L2
// of an H100 between the GEMM that writes it and the selection that reads
// it) and select_tile_kernel folds the tile into each user's running top-k,
// kept in `state` between tiles. S is never materialised beyond one tile.
constexpr int64_t kUserBlock = 1024;
constexpr int64_t kItemTile = 4096;
static_assert(kAllItemsTopKMaxK <= kSelectCapacity / 4, "k2 + room must fit the key buffer");

// Sorted copy of every user's exclusion list (or nullptr when there is none),
// after the CSR checks and, with check_bounds, the id range check.
template <typename Index>
class SortedExclusions {
 public:
  SortedExclusions(const AllItemsTopKParams<Index>& p, bool check_bounds, cudaStream_t stream) {
    constexpr const char* op = "all_items_topk";
    if (p.exclude_offsets == nullptr) return;
    const int64_t users = p.num_users;
    std::vector<int64_t> offsets(users + 1);
    HYBREC_CUDA_CHECK(cudaMemcpyAsync(offsets.data(), p.exclude_offsets,
                                      offsets.size() * sizeof(int64_t), cudaMemcpyDeviceToHost,
                                      stream));
    HYBREC_CUDA_CHECK(cudaStreamSynchronize(stream));
    HYBREC_CHECK(offsets[0] == 0, op, ": exclude_offsets[0] must be 0, got ", offsets[0]);
    for (int64_t u = 0; u < users; ++u) {
      HYBREC_CHECK(offsets[u + 1] >= offsets[u], op, ": exclude_offsets decreases at user ", u,
                   " (", offsets[u], " then ", offsets[u + 1], ")");
    }
    const int64_t total = offsets[users];
    if (total == 0) return;
    HYBREC_CHECK(p.exclude_items != nullptr, op, ": exclude_items is null");
    if (check_bounds) check_range(p, offsets, total, stream);

    storage_ = std::make_unique<StreamScratch<Index>>(total, stream);
    std::size_t temp_bytes = 0;
    HYBREC_CUDA_CHECK(cub::DeviceSegmentedSort::SortKeys(
        nullptr, temp_bytes, p.exclude_items, storage_->get(), total, users, p.exclude_offsets,
        p.exclude_offsets + 1, stream));
    // A null temp pointer would turn the second call back into a size query.
    StreamScratch<char> temp(std::max<int64_t>(static_cast<int64_t>(temp_bytes), 1), stream);
    HYBREC_CUDA_CHECK(cub::DeviceSegmentedSort::SortKeys(
        temp.get(), temp_bytes, p.exclude_items, storage_->get(), total, users, p.exclude_offsets,
        p.exclude_offsets + 1, stream));
  }

  const Index* get() const { return storage_ ? storage_->get() : nullptr; }

 private:
  static void check_range(const AllItemsTopKParams<Index>& p, const std::vector<int64_t>& offsets,
                          int64_t total, cudaStream_t stream) {
    StreamScratch<unsigned long long> first_bad(1, stream);
    HYBREC_CUDA_CHECK(cudaMemsetAsync(first_bad.get(), 0xff, sizeof(unsigned long long), stream));
    HYBREC_LAUNCH(find_bad_exclusion_kernel<Index>, grid_for(total, kBlock), kBlock, 0, stream,
                  p.exclude_items, total, p.num_items, first_bad.get());
    unsigned long long position = 0;
    HYBREC_CUDA_CHECK(cudaMemcpyAsync(&position, first_bad.get(), sizeof(position),
                                      cudaMemcpyDeviceToHost, stream));
    HYBREC_CUDA_CHECK(cudaStreamSynchronize(stream));
    if (position == ULLONG_MAX) return;
    Index item{};
    HYBREC_CUDA_CHECK(cudaMemcpyAsync(&item, p.exclude_items + position, sizeof(Index),
                                      cudaMemcpyDeviceToHost, stream));
    HYBREC_CUDA_CHECK(cudaStreamSynchronize(stream));
    const int64_t pos = static_cast<int64_t>(position);
    const int64_t user =
        std::upper_bound(offsets.begin(), offsets.end(), pos) - offsets.begin() - 1;
    HYBREC_THROW("all_items_topk: excluded item ", static_cast<int64_t>(item), " out of range [0, ",
                 p.num_items, ") at position ", pos, " (user ", user, ")");
  }

  std::unique_ptr<StreamScratch<Index>> storage_;
};

int next_pow2(int64_t n) {
  int p = 1;
  while (p < n) p <<= 1;
  return p;
}

template <typename Index>
void all_items_topk_impl(const AllItemsTopKParams<Index>& p, bool check_bounds,
                         cudaStream_t stream) {
  const SortedExclusions<Index> excluded(p, check_bounds, stream);
  const int64_t dim = p.dim;
  const int64_t user_block = std::min(p.num_users, kUserBlock);
  // Columns padded to a multiple of 4 so every row starts 16-byte aligned.
  const int64_t tile = std::min(kItemTile, (p.num_items + 3) / 4 * 4);
  StreamScratch<float> uw(user_block * dim, stream);
  StreamScratch<float> scores(user_block * tile, stream);
  StreamScratch<uint64_t> state_keys(user_block * p.k, stream);
  StreamScratch<int> state_count(user_block, stream);

  SelectTileArgs<Index> args;
  args.pitch = tile;
  args.k = static_cast<int>(p.k);
  args.k2 = next_pow2(p.k);
  args.room = next_pow2(kSelectCapacity - args.k2 + 1) / 2;  // largest power of two that fits
  args.exclude_offsets = excluded.get() != nullptr ? p.exclude_offsets : nullptr;
  args.excluded_sorted = excluded.get();
  args.state_keys = state_keys.get();
  args.state_count = state_count.get();
  args.top_items = p.top_items;
  args.top_scores = p.top_scores;
  args.scores = scores.get();

  for (int64_t u0 = 0; u0 < p.num_users; u0 += user_block) {
    const int64_t users = std::min(user_block, p.num_users - u0);
    gemm_row_major(stream, false, false, users, dim, dim, p.users + u0 * dim, dim, p.w, dim, 0.0f,
                   uw.get(), dim);
    args.user_base = u0;
    for (int64_t j0 = 0; j0 < p.num_items; j0 += tile) {
      const int64_t items = std::min(tile, p.num_items - j0);
      gemm_row_major(stream, false, true, users, items, dim, uw.get(), dim, p.items + j0 * dim, dim,
                     0.0f, scores.get(), tile);
      args.tile_items = items;
      args.first_item = j0;
      args.first_tile = j0 == 0;
      args.last_tile = j0 + items == p.num_items;
      HYBREC_LAUNCH(select_tile_kernel<Index>, static_cast<unsigned>(users), kSelectThreads, 0,
                    stream, args);
    }
  }
}

}  // namespace
}  // namespace bilinear

using bilinear::kBlock;
using bilinear::StreamScratch;

void bilinear_forward(const BilinearParams& p, float* z, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  StreamScratch<float> uw(p.batch * p.dim, stream);
  bilinear::gemm_row_major(stream, false, false, p.batch, p.dim, p.dim, p.u, p.dim, p.w, p.dim,
                           0.0f, uw.get(), p.dim);
  HYBREC_LAUNCH(bilinear::row_dot_kernel, grid_for(p.batch, bilinear::kWarpsPerBlock), kBlock, 0,
                stream, uw.get(), p.v, p.batch, p.dim, z);
}

void bilinear_backward(const BilinearParams& p, const float* dz, float* du, float* dv, float* dw,
                       void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const int64_t b = p.batch, d = p.dim;
  // dv first holds diag(dz) V: it feeds both dw += U^T (diag(dz) V) and
  // du = (diag(dz) V) W^T, so the op needs no scratch.
  bilinear::scale_rows(dz, p.v, b, d, dv, stream);
  bilinear::gemm_row_major(stream, true, false, d, d, b, p.u, d, dv, d, 1.0f, dw, d);
  bilinear::gemm_row_major(stream, false, true, b, d, d, dv, d, p.w, d, 0.0f, du, d);
  bilinear::gemm_row_major(stream, false, false, b, d, d, p.u, d, p.w, d, 0.0f, dv, d);
  bilinear::scale_rows(dz, dv, b, d, dv, stream);
}

void fused_score_forward(const FusedScoreParams& p, float* out, void* stream_ptr) {
  HYBREC_LAUNCH(bilinear::fused_score_forward_kernel, grid_for(p.batch, kBlock), kBlock, 0,
                to_stream(stream_ptr), p.z, p.g, p.lambda, p.batch, out);
}

void fused_score_backward(const FusedScoreParams& p, const float* dout, float* dz, float* dg,
                          float* dlambda, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const int blocks = static_cast<int>(grid_for(p.batch, kBlock, bilinear::kReduceBlocks));
  StreamScratch<double> partial(blocks, stream);
  HYBREC_LAUNCH(bilinear::fused_score_backward_kernel, blocks, kBlock, 0, stream, p.z, p.g,
                p.lambda, dout, p.batch, dz, dg, partial.get());
  HYBREC_LAUNCH(bilinear::fused_score_dlambda_kernel, 1, kBlock, 0, stream, partial.get(), blocks,
                p.lambda, dlambda);
}

void all_items_topk(const AllItemsTopKParams<int32_t>& p, bool check_bounds, void* stream) {
  bilinear::all_items_topk_impl(p, check_bounds, to_stream(stream));
}

void all_items_topk(const AllItemsTopKParams<int64_t>& p, bool check_bounds, void* stream) {
  bilinear::all_items_topk_impl(p, check_bounds, to_stream(stream));
}

}  // namespace hybrec::kernels::cuda

// CUDA layer norm (contract in hybrec/kernels/dense.h). Each row goes to a
// thread group sized by the row length (dense_common.cuh) and stays in L1
// between its passes, so HBM sees one read of x and one write of y; dgamma
// and dbeta are two-stage column sums in a fixed order (no float atomics).
#include "cuda/check.h"
#include "cuda/dense.h"
#include "cuda/dense_common.cuh"

namespace hybrec::kernels::cuda {
namespace dense {
namespace {

template <int kThreads, int V>
__global__ void layer_norm_forward_kernel(LayerNormParams p) {
  __shared__ float scratch[32];
  const float inv_dim = 1.0f / static_cast<float>(p.dim);
  const int64_t step = static_cast<int64_t>(kThreads) * V;
  for (RowLoop<kThreads> it; it.active(p.n); it.next()) {
    const bool valid = it.row < p.n;
    const int64_t len = valid ? p.dim : 0;
    const float* x = p.x + (valid ? it.row * p.dim : 0);
    float sum = 0.0f;
    for (int64_t j = static_cast<int64_t>(it.tid) * V; j < len; j += step) {
      float v[V];
      load<V>(x + j, v);
#pragma unroll
      for (int k = 0; k < V; ++k) sum += v[k];
    }
    const float mean = group_sum<kThreads>(sum, scratch) * inv_dim;
    float sq = 0.0f;
    for (int64_t j = static_cast<int64_t>(it.tid) * V; j < len; j += step) {
      float v[V];
      load<V>(x + j, v);
#pragma unroll
      for (int k = 0; k < V; ++k) sq += (v[k] - mean) * (v[k] - mean);
    }
    const float rstd = 1.0f / sqrtf(group_sum<kThreads>(sq, scratch) * inv_dim + p.eps);
    float* y = p.y + (valid ? it.row * p.dim : 0);
    for (int64_t j = static_cast<int64_t>(it.tid) * V; j < len; j += step) {
      float v[V], g[V], b[V];
      load<V>(x + j, v);
      load<V>(p.gamma + j, g);
      load<V>(p.beta + j, b);
#pragma unroll
      for (int k = 0; k < V; ++k) v[k] = (v[k] - mean) * rstd * g[k] + b[k];
      store<V>(y + j, v);
    }
    if (valid && it.tid == 0) {
      if (p.mean != nullptr) p.mean[it.row] = mean;
      if (p.rstd != nullptr) p.rstd[it.row] = rstd;
    }
  }
}

template <int kThreads, int V>
__global__ void layer_norm_backward_dx_kernel(LayerNormParams p) {
  __shared__ float scratch[32];
  const float inv_dim = 1.0f / static_cast<float>(p.dim);
  const int64_t step = static_cast<int64_t>(kThreads) * V;
  for (RowLoop<kThreads> it; it.active(p.n); it.next()) {
    const bool valid = it.row < p.n;
    const int64_t len = valid ? p.dim : 0;
    const int64_t base = valid ? it.row * p.dim : 0;
    const float mean = valid ? p.mean[it.row] : 0.0f;
    const float rstd = valid ? p.rstd[it.row] : 0.0f;
    float sum_g = 0.0f, sum_g_xhat = 0.0f;
    for (int64_t j = static_cast<int64_t>(it.tid) * V; j < len; j += step) {
      float x[V], dy[V], gamma[V];
      load<V>(p.x + base + j, x);
      load<V>(p.dy + base + j, dy);
      load<V>(p.gamma + j, gamma);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const float g = dy[k] * gamma[k];
        sum_g += g;
        sum_g_xhat += g * ((x[k] - mean) * rstd);
      }
    }
    const float mean_g = group_sum<kThreads>(sum_g, scratch) * inv_dim;
    const float mean_g_xhat = group_sum<kThreads>(sum_g_xhat, scratch) * inv_dim;
    // Each thread rereads only the dy it overwrites: dx may alias dy.
    for (int64_t j = static_cast<int64_t>(it.tid) * V; j < len; j += step) {
      float x[V], dy[V], gamma[V];
      load<V>(p.x + base + j, x);
      load<V>(p.dy + base + j, dy);
      load<V>(p.gamma + j, gamma);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const float xhat = (x[k] - mean) * rstd;
        x[k] = rstd * (dy[k] * gamma[k] - mean_g - xhat * mean_g_xhat);
      }
      store<V>(p.dx + base + j, x);
    }
  }
}

__global__ void layer_norm_param_partials_kernel(LayerNormParams p, int64_t chunk_rows,
                                                 float* partial_gamma, float* partial_beta) {
  __shared__ float tile[kColRows][kColTile + 1];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk_rows;
  const int64_t end = begin + chunk_rows < p.n ? begin + chunk_rows : p.n;
  float g = 0.0f, b = 0.0f;
  if (j < p.dim) {
    for (int64_t r = begin + threadIdx.y; r < end; r += kColRows) {
      const float dy = p.dy[r * p.dim + j];
      g += dy * ((p.x[r * p.dim + j] - p.mean[r]) * p.rstd[r]);
      b += dy;
    }
  }
  const float total_g = tile_column_total(g, tile);
  __syncthreads();  // row 0 has read the tile before it is refilled
  const float total_b = tile_column_total(b, tile);
  if (threadIdx.y == 0 && j < p.dim) {
    partial_gamma[static_cast<int64_t>(blockIdx.y) * p.dim + j] = total_g;
    partial_beta[static_cast<int64_t>(blockIdx.y) * p.dim + j] = total_b;
  }
}

}  // namespace
}  // namespace dense

using namespace dense;  // NOLINT: this family's own helpers

void layer_norm_forward(const LayerNormParams& p, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const bool vec = aligned16(p.x) && aligned16(p.y) && aligned16(p.gamma) && aligned16(p.beta);
  for_row_shape(p.dim, vec, [&](auto threads, auto width) {
    constexpr int kThreads = decltype(threads)::value, V = decltype(width)::value;
    auto kernel = layer_norm_forward_kernel<kThreads, V>;
    HYBREC_LAUNCH(kernel, row_grid<kThreads>(p.n), kBlock, 0, stream, p);
  });
}

void layer_norm_backward(const LayerNormParams& p, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  // Parameter gradients first: they read dy, which dx may overwrite.
  const ColumnChunks chunks = column_chunks(p.n, p.dim);
  const int64_t per_param = chunks.count * p.dim;
  StreamScratch partials(static_cast<std::size_t>(2 * per_param), stream);
  HYBREC_LAUNCH(layer_norm_param_partials_kernel, column_grid(p.dim, chunks.count), kColBlock, 0,
                stream, p, chunks.rows, partials.data(), partials.data() + per_param);
  const bool vec = aligned16(p.x) && aligned16(p.dy) && aligned16(p.dx) && aligned16(p.gamma);
  for_row_shape(p.dim, vec, [&](auto threads, auto width) {
    constexpr int kThreads = decltype(threads)::value, V = decltype(width)::value;
    auto kernel = layer_norm_backward_dx_kernel<kThreads, V>;
    HYBREC_LAUNCH(kernel, row_grid<kThreads>(p.n), kBlock, 0, stream, p);
  });
  add_partials_to(partials.data(), chunks.count, p.dim, p.dgamma, stream);
  add_partials_to(partials.data() + per_param, chunks.count, p.dim, p.dbeta, stream);
}

}  // namespace hybrec::kernels::cuda

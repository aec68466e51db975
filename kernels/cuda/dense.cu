// CUDA backend of the dense ops (contract in hybrec/kernels/dense.h).
//
// GEMMs are cuBLAS sgemm in plain fp32. Row ops (layer norm, softmax, the
// sampled softmax loss) give each row to a thread group sized by the row
// length (dense_common.cuh) and keep rows in L1 between their passes, so HBM
// sees one read of the input and one write of the output. Elementwise ops use
// float4 grid-stride loops. Every reduction across rows is two-stage with a
// fixed order (no float atomics), so results repeat bit for bit.
#include <cublas_v2.h>

#include "cuda/check.h"
#include "cuda/dense.h"
#include "cuda/dense_common.cuh"
#include "hybrec/kernels/static_switch.h"

namespace hybrec::kernels::cuda {
namespace dense {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
// Loss kernels write one partial per block; capping the grid keeps the final
// single-block sum short and makes the summation order depend on n only.
constexpr unsigned kMaxLossBlocks = 1024;

__device__ __forceinline__ int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() {
  return static_cast<int64_t>(gridDim.x) * blockDim.x;
}

// ---------------------------------------------------------------------------
// Column sums (bias, gamma and beta gradients).

__global__ void column_sum_partials_kernel(const float* a, int64_t n, int64_t cols,
                                           int64_t chunk_rows, float* partials) {
  __shared__ float tile[kColRows][kColTile + 1];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk_rows;
  const int64_t end = begin + chunk_rows < n ? begin + chunk_rows : n;
  float sum = 0.0f;
  if (j < cols) {
    for (int64_t r = begin + threadIdx.y; r < end; r += kColRows) sum += a[r * cols + j];
  }
  const float total = tile_column_total(sum, tile);
  if (threadIdx.y == 0 && j < cols) partials[static_cast<int64_t>(blockIdx.y) * cols + j] = total;
}

__global__ void add_column_partials_kernel(const float* partials, int64_t chunks, int64_t cols,
                                           float* out) {
  __shared__ float tile[kColRows][kColTile + 1];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  float sum = 0.0f;
  if (j < cols) {
    for (int64_t c = threadIdx.y; c < chunks; c += kColRows) sum += partials[c * cols + j];
  }
  const float total = tile_column_total(sum, tile);
  if (threadIdx.y == 0 && j < cols) out[j] += total;
}

const dim3 kColBlock(kColTile, kColRows);

void add_partials_to(const float* partials, int64_t chunks, int64_t cols, float* out,
                     cudaStream_t stream) {
  HYBREC_LAUNCH(add_column_partials_kernel, column_grid(cols, 1), kColBlock, 0, stream, partials,
                chunks, cols, out);
}

// out[j] += sum over rows r of a[r][j], a [n, cols].
void add_column_sums(const float* a, int64_t n, int64_t cols, float* out, cudaStream_t stream) {
  const ColumnChunks chunks = column_chunks(n, cols);
  StreamScratch partials(static_cast<std::size_t>(chunks.count * cols), stream);
  HYBREC_LAUNCH(column_sum_partials_kernel, column_grid(cols, chunks.count), kColBlock, 0, stream,
                a, n, cols, chunks.rows, partials.data());
  add_partials_to(partials.data(), chunks.count, cols, out, stream);
}

// ---------------------------------------------------------------------------
// Linear.

template <int V>
__global__ void add_bias_kernel(float* y, const float* bias, int64_t n, int64_t out) {
  // With V == 4, out % 4 == 0, so a vector never straddles two rows.
  const int64_t vecs = n * out / V;
  for (int64_t i = global_thread(); i < vecs; i += grid_stride()) {
    const int64_t col = (i * V) % out;
    float v[V], b[V];
    load<V>(y + i * V, v);
    load<V>(bias + col, b);
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] += b[k];
    store<V>(y + i * V, v);
  }
}

// The per-thread handle is shared with other families: pin the modes this
// file relies on (host scalars, no TF32) on every call.
cublasHandle_t fp32_blas(cudaStream_t stream) {
  cublasHandle_t handle = cublas_handle(stream);
  HYBREC_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
  HYBREC_CUBLAS_CHECK(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_HOST));
  return handle;
}

// ---------------------------------------------------------------------------
// Layer norm.

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

// ---------------------------------------------------------------------------
// GELU (exact erf form).

__device__ __forceinline__ float gelu(float x) { return 0.5f * x * (1.0f + erff(x * kInvSqrt2)); }

__device__ __forceinline__ float gelu_grad(float x) {
  const float cdf = 0.5f * (1.0f + erff(x * kInvSqrt2));
  const float pdf = kInvSqrt2Pi * expf(-0.5f * x * x);
  return cdf + x * pdf;
}

template <int V>
__global__ void gelu_forward_kernel(const float* x, int64_t count, float* y) {
  const int64_t vecs = count / V;
  for (int64_t i = global_thread(); i < vecs; i += grid_stride()) {
    float v[V];
    load<V>(x + i * V, v);
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] = gelu(v[k]);
    store<V>(y + i * V, v);
  }
  for (int64_t i = vecs * V + global_thread(); i < count; i += grid_stride()) y[i] = gelu(x[i]);
}

template <int V>
__global__ void gelu_backward_kernel(const float* x, const float* dy, int64_t count, float* dx) {
  const int64_t vecs = count / V;
  for (int64_t i = global_thread(); i < vecs; i += grid_stride()) {
    float v[V], d[V];
    load<V>(x + i * V, v);
    load<V>(dy + i * V, d);
#pragma unroll
    for (int k = 0; k < V; ++k) d[k] *= gelu_grad(v[k]);
    store<V>(dx + i * V, d);
  }
  for (int64_t i = vecs * V + global_thread(); i < count; i += grid_stride()) {
    dx[i] = dy[i] * gelu_grad(x[i]);
  }
}

// ---------------------------------------------------------------------------
// Softmax. Three passes over the row (max, sum of exponentials, write), the
// same arithmetic as the CPU backend; the second and third hit L1.

template <int kThreads, int V>
__global__ void softmax_forward_kernel(const float* x, int64_t n, int64_t c, float* y) {
  __shared__ float scratch[32];
  const int64_t step = static_cast<int64_t>(kThreads) * V;
  for (RowLoop<kThreads> it; it.active(n); it.next()) {
    const bool valid = it.row < n;
    const int64_t len = valid ? c : 0;
    const float* in = x + (valid ? it.row * c : 0);
    float max = -INFINITY;
    for (int64_t j = static_cast<int64_t>(it.tid) * V; j < len; j += step) {
      float v[V];
      load<V>(in + j, v);
#pragma unroll
      for (int k = 0; k < V; ++k) max = fmaxf(max, v[k]);
    }
    max = group_max<kThreads>(max, scratch);
    float sum = 0.0f;
    for (int64_t j = static_cast<int64_t>(it.tid) * V; j < len; j += step) {
      float v[V];
      load<V>(in + j, v);
#pragma unroll
      for (int k = 0; k < V; ++k) sum += expf(v[k] - max);
    }
    const float inv = 1.0f / group_sum<kThreads>(sum, scratch);
    float* out = y + (valid ? it.row * c : 0);
    for (int64_t j = static_cast<int64_t>(it.tid) * V; j < len; j += step) {
      float v[V];
      load<V>(in + j, v);
#pragma unroll
      for (int k = 0; k < V; ++k) v[k] = expf(v[k] - max) * inv;
      store<V>(out + j, v);
    }
  }
}

template <int kThreads, int V>
__global__ void softmax_backward_kernel(const float* y, const float* dy, int64_t n, int64_t c,
                                        float* dx) {
  __shared__ float scratch[32];
  const int64_t step = static_cast<int64_t>(kThreads) * V;
  for (RowLoop<kThreads> it; it.active(n); it.next()) {
    const bool valid = it.row < n;
    const int64_t len = valid ? c : 0;
    const int64_t base = valid ? it.row * c : 0;
    float dot = 0.0f;
    for (int64_t j = static_cast<int64_t>(it.tid) * V; j < len; j += step) {
      float yv[V], dv[V];
      load<V>(y + base + j, yv);
      load<V>(dy + base + j, dv);
#pragma unroll
      for (int k = 0; k < V; ++k) dot += dv[k] * yv[k];
    }
    dot = group_sum<kThreads>(dot, scratch);
    for (int64_t j = static_cast<int64_t>(it.tid) * V; j < len; j += step) {
      float yv[V], dv[V];
      load<V>(y + base + j, yv);
      load<V>(dy + base + j, dv);
#pragma unroll
      for (int k = 0; k < V; ++k) dv[k] = yv[k] * (dv[k] - dot);
      store<V>(dx + base + j, dv);
    }
  }
}

// ---------------------------------------------------------------------------
// Losses. Forward kernels write one partial sum per block; finalize_mean
// adds them in order in a single block.

__global__ void finalize_mean_kernel(const float* partials, int count, float n, float* loss) {
  __shared__ float scratch[32];
  float sum = 0.0f;
  for (int i = threadIdx.x; i < count; i += kBlock) sum += partials[i];
  sum = group_sum<kBlock>(sum, scratch);
  if (threadIdx.x == 0) *loss = sum / n;
}

void finalize_mean(const float* partials, unsigned blocks, int64_t n, float* loss,
                   cudaStream_t stream) {
  HYBREC_LAUNCH(finalize_mean_kernel, 1, kBlock, 0, stream, partials, static_cast<int>(blocks),
                static_cast<float>(n), loss);
}

template <bool kWeighted>
__global__ void bce_forward_kernel(const float* logits, const float* labels, const float* weights,
                                   int64_t n, float* partials) {
  __shared__ float scratch[32];
  float acc = 0.0f;
  for (int64_t i = global_thread(); i < n; i += grid_stride()) {
    const float x = logits[i];
    const float l = fmaxf(x, 0.0f) - x * labels[i] + log1pf(expf(-fabsf(x)));
    acc += kWeighted ? weights[i] * l : l;
  }
  acc = group_sum<kBlock>(acc, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

template <bool kWeighted>
__global__ void bce_backward_kernel(const float* logits, const float* labels, const float* weights,
                                    int64_t n, float scale, float* dlogits) {
  for (int64_t i = global_thread(); i < n; i += grid_stride()) {
    const float x = logits[i];
    const float e = expf(-fabsf(x));
    const float inv = 1.0f / (1.0f + e);
    const float sigmoid = x >= 0.0f ? inv : e * inv;
    const float w = kWeighted ? weights[i] : 1.0f;
    dlogits[i] = (sigmoid - labels[i]) * w * scale;
  }
}

// max and sum of exp(z - max) over the row z = logits - log_q, reduced over
// the row group.
template <int kThreads, int V, bool kLogQ>
__device__ __forceinline__ void row_logsumexp(const float* logits, const float* log_q, int64_t len,
                                              int tid, float* scratch, float& max, float& sum) {
  const int64_t step = static_cast<int64_t>(kThreads) * V;
  max = -INFINITY;
  for (int64_t j = static_cast<int64_t>(tid) * V; j < len; j += step) {
    float z[V], q[V] = {};
    load<V>(logits + j, z);
    if constexpr (kLogQ) load<V>(log_q + j, q);
#pragma unroll
    for (int k = 0; k < V; ++k) max = fmaxf(max, z[k] - q[k]);
  }
  max = group_max<kThreads>(max, scratch);
  sum = 0.0f;
  for (int64_t j = static_cast<int64_t>(tid) * V; j < len; j += step) {
    float z[V], q[V] = {};
    load<V>(logits + j, z);
    if constexpr (kLogQ) load<V>(log_q + j, q);
#pragma unroll
    for (int k = 0; k < V; ++k) sum += expf(z[k] - q[k] - max);
  }
  sum = group_sum<kThreads>(sum, scratch);
}

template <int kThreads, int V, bool kLogQ>
__global__ void sampled_softmax_forward_kernel(const float* logits, const float* log_q, int64_t n,
                                               int64_t c, float* partials) {
  __shared__ float scratch[32];
  float acc = 0.0f;
  for (RowLoop<kThreads> it; it.active(n); it.next()) {
    const bool valid = it.row < n;
    const int64_t base = valid ? it.row * c : 0;
    float max, sum;
    row_logsumexp<kThreads, V, kLogQ>(logits + base, log_q + (kLogQ ? base : 0), valid ? c : 0,
                                      it.tid, scratch, max, sum);
    if (valid && it.tid == 0) {
      const float positive = logits[base] - (kLogQ ? log_q[base] : 0.0f);
      // (max - z_0) + log(sum): no cancellation between two large terms.
      acc += (max - positive) + logf(sum);
    }
  }
  acc = group_sum<kBlock>(acc, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

template <int kThreads, int V, bool kLogQ>
__global__ void sampled_softmax_backward_kernel(const float* logits, const float* log_q, int64_t n,
                                                int64_t c, float scale, float* dlogits) {
  __shared__ float scratch[32];
  const int64_t step = static_cast<int64_t>(kThreads) * V;
  for (RowLoop<kThreads> it; it.active(n); it.next()) {
    const bool valid = it.row < n;
    const int64_t len = valid ? c : 0;
    const int64_t base = valid ? it.row * c : 0;
    float max, sum;
    row_logsumexp<kThreads, V, kLogQ>(logits + base, log_q + (kLogQ ? base : 0), len, it.tid,
                                      scratch, max, sum);
    const float log_sum = logf(sum);
    // Each thread rereads only the logits it overwrites: dlogits may alias logits.
    for (int64_t j = static_cast<int64_t>(it.tid) * V; j < len; j += step) {
      float z[V], q[V] = {};
      load<V>(logits + base + j, z);
      if constexpr (kLogQ) load<V>(log_q + base + j, q);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const float prob = expf(z[k] - q[k] - max - log_sum);
        z[k] = (prob - (j + k == 0 ? 1.0f : 0.0f)) * scale;
      }
      store<V>(dlogits + base + j, z);
    }
  }
}

unsigned loss_grid(int64_t n, int per_block) { return grid_for(n, per_block, kMaxLossBlocks); }

}  // namespace
}  // namespace dense

using namespace dense;

void linear_forward(const LinearParams& p, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const int n = static_cast<int>(p.n), in = static_cast<int>(p.in_features),
            out = static_cast<int>(p.out_features);
  const float one = 1.0f, zero = 0.0f;
  // Row-major y[n, out] is column-major y^T [out, n] = W [out, in] x^T, where
  // row-major W reads as column-major W^T (hence OP_T) and x as x^T.
  HYBREC_CUBLAS_CHECK(cublasSgemm(fp32_blas(stream), CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one,
                                  p.weight, in, p.x, in, &zero, p.y, out));
  if (p.bias == nullptr) return;
  const bool vec = p.out_features % 4 == 0 && aligned16(p.y) && aligned16(p.bias);
  const int64_t items = p.n * p.out_features / (vec ? 4 : 1);
  if (vec) {
    HYBREC_LAUNCH(add_bias_kernel<4>, grid_for(items, kBlock), kBlock, 0, stream, p.y, p.bias, p.n,
                  p.out_features);
  } else {
    HYBREC_LAUNCH(add_bias_kernel<1>, grid_for(items, kBlock), kBlock, 0, stream, p.y, p.bias, p.n,
                  p.out_features);
  }
}

void linear_backward(const LinearParams& p, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const int n = static_cast<int>(p.n), in = static_cast<int>(p.in_features),
            out = static_cast<int>(p.out_features);
  const float one = 1.0f, zero = 0.0f;
  cublasHandle_t blas = fp32_blas(stream);
  if (p.dx != nullptr) {
    // Column-major dx^T [in, n] = W^T [in, out] dy^T [out, n].
    HYBREC_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, p.weight, in,
                                    p.dy, out, &zero, p.dx, in));
  }
  // Column-major dW^T [in, out] += x^T [in, n] dy [n, out]; beta = 1 accumulates.
  HYBREC_CUBLAS_CHECK(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, p.x, in, p.dy,
                                  out, &one, p.dweight, in));
  if (p.dbias != nullptr) add_column_sums(p.dy, p.n, p.out_features, p.dbias, stream);
}

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

void gelu_forward(const float* x, int64_t count, float* y, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  if (aligned16(x) && aligned16(y)) {
    HYBREC_LAUNCH(gelu_forward_kernel<4>, grid_for(count / 4 + 1, kBlock), kBlock, 0, stream, x,
                  count, y);
  } else {
    HYBREC_LAUNCH(gelu_forward_kernel<1>, grid_for(count, kBlock), kBlock, 0, stream, x, count, y);
  }
}

void gelu_backward(const float* x, const float* dy, int64_t count, float* dx, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  if (aligned16(x) && aligned16(dy) && aligned16(dx)) {
    HYBREC_LAUNCH(gelu_backward_kernel<4>, grid_for(count / 4 + 1, kBlock), kBlock, 0, stream, x,
                  dy, count, dx);
  } else {
    HYBREC_LAUNCH(gelu_backward_kernel<1>, grid_for(count, kBlock), kBlock, 0, stream, x, dy, count,
                  dx);
  }
}

void softmax_forward(const float* x, int64_t n, int64_t c, float* y, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  for_row_shape(c, aligned16(x) && aligned16(y), [&](auto threads, auto width) {
    constexpr int kThreads = decltype(threads)::value, V = decltype(width)::value;
    auto kernel = softmax_forward_kernel<kThreads, V>;
    HYBREC_LAUNCH(kernel, row_grid<kThreads>(n), kBlock, 0, stream, x, n, c, y);
  });
}

void softmax_backward(const float* y, const float* dy, int64_t n, int64_t c, float* dx,
                      void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  for_row_shape(c, aligned16(y) && aligned16(dy) && aligned16(dx), [&](auto threads, auto width) {
    constexpr int kThreads = decltype(threads)::value, V = decltype(width)::value;
    auto kernel = softmax_backward_kernel<kThreads, V>;
    HYBREC_LAUNCH(kernel, row_grid<kThreads>(n), kBlock, 0, stream, y, dy, n, c, dx);
  });
}

void bce_with_logits_forward(const float* logits, const float* labels, const float* weights,
                             int64_t n, float* loss, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  if (n == 0) {
    HYBREC_CUDA_CHECK(cudaMemsetAsync(loss, 0, sizeof(float), stream));
    return;
  }
  const unsigned blocks = loss_grid(n, kBlock);
  StreamScratch partials(blocks, stream);
  HYBREC_BOOL_SWITCH(weights != nullptr, kWeighted, [&] {
    HYBREC_LAUNCH(bce_forward_kernel<kWeighted>, blocks, kBlock, 0, stream, logits, labels, weights,
                  n, partials.data());
  });
  finalize_mean(partials.data(), blocks, n, loss, stream);
}

void bce_with_logits_backward(const float* logits, const float* labels, const float* weights,
                              int64_t n, float dloss, float* dlogits, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const float scale = dloss / static_cast<float>(n);
  HYBREC_BOOL_SWITCH(weights != nullptr, kWeighted, [&] {
    HYBREC_LAUNCH(bce_backward_kernel<kWeighted>, grid_for(n, kBlock), kBlock, 0, stream, logits,
                  labels, weights, n, scale, dlogits);
  });
}

void sampled_softmax_loss_forward(const float* logits, const float* log_q, int64_t n, int64_t c,
                                  float* loss, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  if (n == 0) {
    HYBREC_CUDA_CHECK(cudaMemsetAsync(loss, 0, sizeof(float), stream));
    return;
  }
  for_row_shape(c, aligned16(logits) && aligned16(log_q), [&](auto threads, auto width) {
    constexpr int kThreads = decltype(threads)::value, V = decltype(width)::value;
    const unsigned blocks = loss_grid(n, kBlock / kThreads);
    StreamScratch partials(blocks, stream);
    HYBREC_BOOL_SWITCH(log_q != nullptr, kLogQ, [&] {
      auto kernel = sampled_softmax_forward_kernel<kThreads, V, kLogQ>;
      HYBREC_LAUNCH(kernel, blocks, kBlock, 0, stream, logits, log_q, n, c, partials.data());
    });
    finalize_mean(partials.data(), blocks, n, loss, stream);
  });
}

void sampled_softmax_loss_backward(const float* logits, const float* log_q, int64_t n, int64_t c,
                                   float dloss, float* dlogits, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const float scale = dloss / static_cast<float>(n);
  const bool vec = aligned16(logits) && aligned16(log_q) && aligned16(dlogits);
  for_row_shape(c, vec, [&](auto threads, auto width) {
    constexpr int kThreads = decltype(threads)::value, V = decltype(width)::value;
    HYBREC_BOOL_SWITCH(log_q != nullptr, kLogQ, [&] {
      auto kernel = sampled_softmax_backward_kernel<kThreads, V, kLogQ>;
      HYBREC_LAUNCH(kernel, row_grid<kThreads>(n), kBlock, 0, stream, logits, log_q, n, c, scale,
                    dlogits);
    });
  });
}

}  // namespace hybrec::kernels::cuda

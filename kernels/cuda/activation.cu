// CUDA GELU (exact erf form) and softmax (contract in
// hybrec/kernels/dense.h). GELU is a float4 grid-stride loop; softmax rows
// go to thread groups sized by the row length and stay in L1 between the
// passes (dense_common.cuh).
#include "cuda/check.h"
#include "cuda/dense.h"
#include "cuda/dense_common.cuh"

namespace hybrec::kernels::cuda {
namespace dense {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

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

}  // namespace
}  // namespace dense

using namespace dense;  // NOLINT: this family's own helpers

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

}  // namespace hybrec::kernels::cuda

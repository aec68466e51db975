// CUDA elementwise and row ops (contract in hybrec/kernels/elementwise.h).
//
// Flat and row-scaled maps are float4 grid-stride loops when every pointer is
// 16-byte aligned (and, for row ops, dim % 4 == 0 so a vector never straddles
// two rows). Ops that combine rows (scatter, segment mean) give each
// destination row to one warp whose lanes own columns and walk the source
// rows in order: every output element sees the same adds in the same order
// as the CPU loop, so they are exact, and no atomics are needed. Row
// reductions (norms, dots) are a warp per row with a shuffle tree; the dot
// product over a whole array is two-stage in double with a grid that depends
// only on the count. Everything repeats bit for bit.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/check.h"
#include "cuda/dense_common.cuh"
#include "cuda/elementwise.h"
#include "hybrec/kernels/static_switch.h"

namespace hybrec::kernels::cuda {
namespace {

using dense::aligned16;
using dense::global_thread;
using dense::grid_stride;
using dense::kBlock;
using dense::kFullMask;
using dense::load;
using dense::store;

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = kBlock / kWarp;
// dot_accumulate's first stage writes one partial per block; the cap keeps
// the second stage a single short block and fixes the summation order.
constexpr unsigned kMaxDotBlocks = 1024;

__device__ __forceinline__ int64_t global_warp() { return global_thread() / kWarp; }
__device__ __forceinline__ int64_t warp_stride() { return grid_stride() / kWarp; }
__device__ __forceinline__ int lane_id() { return static_cast<int>(threadIdx.x % kWarp); }

__device__ __forceinline__ float warp_sum(float v) {
  return dense::warp_reduce<kWarp>(v, dense::Sum{});
}

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

// Sum over the block (kBlock threads) in a fixed order; valid on thread 0.
__device__ __forceinline__ double block_sum(double v) {
  __shared__ double scratch[kWarpsPerBlock];
  v = warp_sum(v);
  if (lane_id() == 0) scratch[threadIdx.x / kWarp] = v;
  __syncthreads();
  double total = 0.0;
  if (threadIdx.x == 0) {
    for (int w = 0; w < kWarpsPerBlock; ++w) total += scratch[w];
  }
  return total;
}

// Stream-ordered device scratch of `bytes`, released if a launch throws.
class Scratch {
 public:
  Scratch(std::size_t bytes, cudaStream_t stream) : stream_(stream) {
    if (bytes > 0) HYBREC_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, stream_));
  }
  ~Scratch() {
    if (ptr_ != nullptr) cudaFreeAsync(ptr_, stream_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  cudaStream_t stream_;
  void* ptr_ = nullptr;
};

// ---------------------------------------------------------------------------
// Validation.

__global__ void find_violation_kernel(const int64_t* __restrict__ values, int64_t n, int64_t lo,
                                      int64_t hi, bool non_decreasing,
                                      unsigned long long* first_bad) {
  for (int64_t i = global_thread(); i < n; i += grid_stride()) {
    const int64_t v = values[i];
    const bool bad = v < lo || v >= hi || (non_decreasing && i > 0 && v < values[i - 1]);
    // atomicMin on the position: the first violation wins whatever the order.
    if (bad) atomicMin(first_bad, static_cast<unsigned long long>(i));
  }
}

// ---------------------------------------------------------------------------
// Flat maps: y = op(x) and y = op(a, b). Each thread reads only the elements
// it writes, so y may be an input.

struct AddOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct MulOp {
  __device__ float operator()(float a, float b) const { return a * b; }
};
struct AxpyOp {  // op(x, y) = y + alpha * x
  float alpha;
  __device__ float operator()(float x, float y) const { return y + alpha * x; }
};
struct ScaleOp {
  float alpha;
  __device__ float operator()(float x) const { return alpha * x; }
};
struct ScaleByOp {
  const float* alpha;
  __device__ float operator()(float x) const { return __ldg(alpha) * x; }
};

template <int V, typename Op>
__global__ void unary_kernel(const float* x, int64_t count, float* y, Op op) {
  const int64_t vecs = count / V;
  for (int64_t i = global_thread(); i < vecs; i += grid_stride()) {
    float v[V];
    load<V>(x + i * V, v);
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] = op(v[k]);
    store<V>(y + i * V, v);
  }
  for (int64_t i = vecs * V + global_thread(); i < count; i += grid_stride()) y[i] = op(x[i]);
}

template <int V, typename Op>
__global__ void binary_kernel(const float* a, const float* b, int64_t count, float* y, Op op) {
  const int64_t vecs = count / V;
  for (int64_t i = global_thread(); i < vecs; i += grid_stride()) {
    float va[V], vb[V];
    load<V>(a + i * V, va);
    load<V>(b + i * V, vb);
#pragma unroll
    for (int k = 0; k < V; ++k) va[k] = op(va[k], vb[k]);
    store<V>(y + i * V, va);
  }
  for (int64_t i = vecs * V + global_thread(); i < count; i += grid_stride()) y[i] = op(a[i], b[i]);
}

template <typename Op>
void launch_unary(const float* x, int64_t count, float* y, Op op, cudaStream_t stream) {
  if (aligned16(x) && aligned16(y)) {
    auto kernel = unary_kernel<4, Op>;
    HYBREC_LAUNCH(kernel, grid_for(count / 4 + 1, kBlock), kBlock, 0, stream, x, count, y, op);
  } else {
    auto kernel = unary_kernel<1, Op>;
    HYBREC_LAUNCH(kernel, grid_for(count, kBlock), kBlock, 0, stream, x, count, y, op);
  }
}

template <typename Op>
void launch_binary(const float* a, const float* b, int64_t count, float* y, Op op,
                   cudaStream_t stream) {
  if (aligned16(a) && aligned16(b) && aligned16(y)) {
    auto kernel = binary_kernel<4, Op>;
    HYBREC_LAUNCH(kernel, grid_for(count / 4 + 1, kBlock), kBlock, 0, stream, a, b, count, y, op);
  } else {
    auto kernel = binary_kernel<1, Op>;
    HYBREC_LAUNCH(kernel, grid_for(count, kBlock), kBlock, 0, stream, a, b, count, y, op);
  }
}

// ---------------------------------------------------------------------------
// Row maps over [rows, dim]: V == 4 only when dim % 4 == 0.

template <int V, bool kAccumulate>
__global__ void row_scale_kernel(const float* x, const float* row_scale, int64_t rows, int64_t dim,
                                 float* y) {
  const int64_t vecs = rows * dim / V;
  for (int64_t i = global_thread(); i < vecs; i += grid_stride()) {
    const int64_t e = i * V;
    const float s = row_scale != nullptr ? row_scale[e / dim] : 1.0f;
    if (kAccumulate && s == 0.0f) continue;  // as the CPU loop: the row is skipped
    float v[V], out[V] = {};
    load<V>(x + e, v);
    if (kAccumulate) load<V>(y + e, out);
#pragma unroll
    for (int k = 0; k < V; ++k) out[k] = kAccumulate ? out[k] + s * v[k] : s * v[k];
    store<V>(y + e, out);
  }
}

template <bool kAccumulate>
void launch_row_scale(const float* x, const float* row_scale, int64_t rows, int64_t dim, float* y,
                      cudaStream_t stream) {
  const int64_t count = rows * dim;
  if (dim % 4 == 0 && aligned16(x) && aligned16(y)) {
    auto kernel = row_scale_kernel<4, kAccumulate>;
    HYBREC_LAUNCH(kernel, grid_for(count / 4, kBlock), kBlock, 0, stream, x, row_scale, rows, dim,
                  y);
  } else {
    auto kernel = row_scale_kernel<1, kAccumulate>;
    HYBREC_LAUNCH(kernel, grid_for(count, kBlock), kBlock, 0, stream, x, row_scale, rows, dim, y);
  }
}

template <int V, bool kAccumulate>
__global__ void gather_rows_kernel(const float* __restrict__ src, int64_t dim,
                                   const int64_t* __restrict__ index, int64_t n,
                                   float* __restrict__ out) {
  const int64_t vecs = n * dim / V;
  for (int64_t i = global_thread(); i < vecs; i += grid_stride()) {
    const int64_t e = i * V, row = e / dim, col = e - row * dim;
    const int64_t r = index[row];
    if (kAccumulate && r < 0) continue;  // a zero row adds nothing
    float v[V] = {};
    if (r >= 0) load<V>(src + r * dim + col, v);
    if (kAccumulate) {
      float o[V];
      load<V>(out + e, o);
#pragma unroll
      for (int k = 0; k < V; ++k) v[k] = o[k] + v[k];
    }
    store<V>(out + e, v);
  }
}

// ---------------------------------------------------------------------------
// Warp-per-row ops. The row index is the same on every lane of a warp, so
// the shuffles always see the full warp.

template <int V>
__global__ void scatter_add_rows_kernel(const int64_t* __restrict__ offsets,
                                        const int64_t* __restrict__ src_index, int64_t dst_rows,
                                        const float* __restrict__ src, int64_t dim,
                                        float* __restrict__ dst) {
  for (int64_t r = global_warp(); r < dst_rows; r += warp_stride()) {
    const int64_t begin = offsets[r], end = offsets[r + 1];
    if (begin == end) continue;
    float* d = dst + r * dim;
    for (int64_t c = static_cast<int64_t>(lane_id()) * V; c < dim; c += kWarp * V) {
      float acc[V];
      load<V>(d + c, acc);
      for (int64_t j = begin; j < end; ++j) {
        float v[V];
        load<V>(src + src_index[j] * dim + c, v);
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] += v[k];
      }
      store<V>(d + c, acc);
    }
  }
}

template <int V>
__global__ void segment_mean_forward_kernel(const float* __restrict__ x, int64_t dim,
                                            const int64_t* __restrict__ offsets, int64_t segments,
                                            float* __restrict__ y) {
  for (int64_t s = global_warp(); s < segments; s += warp_stride()) {
    const int64_t begin = offsets[s], end = offsets[s + 1], n = end - begin;
    const float inv = n > 1 ? 1.0f / static_cast<float>(n) : 1.0f;
    for (int64_t c = static_cast<int64_t>(lane_id()) * V; c < dim; c += kWarp * V) {
      float acc[V];
#pragma unroll
      for (int k = 0; k < V; ++k) acc[k] = 0.0f;
      for (int64_t r = begin; r < end; ++r) {
        float v[V];
        load<V>(x + r * dim + c, v);
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] += v[k];
      }
      if (n > 1) {
#pragma unroll
        for (int k = 0; k < V; ++k) acc[k] *= inv;
      }
      store<V>(y + s * dim + c, acc);
    }
  }
}

template <int V>
__global__ void segment_mean_backward_kernel(const float* __restrict__ dy, int64_t dim,
                                             const int64_t* __restrict__ offsets, int64_t segments,
                                             float* __restrict__ dx) {
  for (int64_t s = global_warp(); s < segments; s += warp_stride()) {
    const int64_t begin = offsets[s], end = offsets[s + 1], n = end - begin;
    const float inv = n > 1 ? 1.0f / static_cast<float>(n) : 1.0f;
    for (int64_t c = static_cast<int64_t>(lane_id()) * V; c < dim; c += kWarp * V) {
      float g[V];
      load<V>(dy + s * dim + c, g);
#pragma unroll
      for (int k = 0; k < V; ++k) g[k] *= inv;
      for (int64_t r = begin; r < end; ++r) store<V>(dx + r * dim + c, g);
    }
  }
}

__global__ void row_inverse_norms_kernel(const float* __restrict__ x, int64_t rows, int64_t dim,
                                         float* __restrict__ inv) {
  for (int64_t i = global_warp(); i < rows; i += warp_stride()) {
    const float* t = x + i * dim;
    float sq = 0.0f;
    for (int64_t k = lane_id(); k < dim; k += kWarp) sq += t[k] * t[k];
    sq = warp_sum(sq);
    if (lane_id() == 0) inv[i] = sq > 0.0f ? 1.0f / sqrtf(sq) : 0.0f;
  }
}

__global__ void row_dot_kernel(const float* __restrict__ a, const int64_t* __restrict__ a_index,
                               const float* __restrict__ b, const int64_t* __restrict__ b_index,
                               int64_t n, int64_t dim, float* __restrict__ out) {
  for (int64_t i = global_warp(); i < n; i += warp_stride()) {
    const float* ai = a + (a_index != nullptr ? a_index[i] : i) * dim;
    const float* bi = b + (b_index != nullptr ? b_index[i] : i) * dim;
    float dot = 0.0f;
    for (int64_t k = lane_id(); k < dim; k += kWarp) dot += ai[k] * bi[k];
    dot = warp_sum(dot);
    if (lane_id() == 0) out[i] = dot;
  }
}

// ---------------------------------------------------------------------------
// dot_accumulate: per-block partials in double, then one block adds them.

__global__ void dot_partials_kernel(const float* __restrict__ a, const float* __restrict__ b,
                                    int64_t count, double* __restrict__ partials) {
  double sum = 0.0;
  for (int64_t i = global_thread(); i < count; i += grid_stride()) {
    sum += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  }
  sum = block_sum(sum);
  if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

__global__ void dot_finalize_kernel(const double* __restrict__ partials, int count, float* out) {
  double sum = 0.0;
  for (int i = threadIdx.x; i < count; i += kBlock) sum += partials[i];
  sum = block_sum(sum);
  if (threadIdx.x == 0) out[0] += static_cast<float>(sum);
}

unsigned warp_grid(int64_t rows) { return grid_for(rows, kWarpsPerBlock); }

__global__ void dense_adam_kernel(DenseAdamStep step, const float* __restrict__ grad, int64_t count,
                                  float* __restrict__ params, float* __restrict__ m,
                                  float* __restrict__ v) {
  for (int64_t i = global_thread(); i < count; i += grid_stride()) {
    const float p = params[i];
    float g = step.clip_coef * grad[i];
    if (!step.decoupled_weight_decay) g += step.weight_decay * p;
    const float mi = step.beta1 * m[i] + (1.0f - step.beta1) * g;
    const float vi = step.beta2 * v[i] + (1.0f - step.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float update =
        (mi * step.inv_bias_correction1) / (sqrtf(vi * step.inv_bias_correction2) + step.eps);
    if (step.decoupled_weight_decay) update += step.weight_decay * p;
    params[i] = p - step.learning_rate * update;
  }
}

__global__ void sum_finalize_kernel(const double* __restrict__ partials, int count, double* out) {
  double sum = 0.0;
  for (int i = threadIdx.x; i < count; i += kBlock) sum += partials[i];
  sum = block_sum(sum);
  if (threadIdx.x == 0) out[0] = sum;
}

}  // namespace

int64_t find_int64_violation(const int64_t* values, int64_t n, int64_t lo, int64_t hi,
                             bool non_decreasing, void* stream_ptr) {
  if (n == 0) return -1;
  const cudaStream_t stream = to_stream(stream_ptr);
  Scratch first_bad(sizeof(unsigned long long), stream);
  auto* first = first_bad.as<unsigned long long>();
  HYBREC_CUDA_CHECK(cudaMemsetAsync(first, 0xff, sizeof(unsigned long long), stream));
  HYBREC_LAUNCH(find_violation_kernel, grid_for(n, kBlock), kBlock, 0, stream, values, n, lo, hi,
                non_decreasing, first);
  unsigned long long host = 0;
  HYBREC_CUDA_CHECK(cudaMemcpyAsync(&host, first, sizeof(host), cudaMemcpyDeviceToHost, stream));
  HYBREC_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host == ~0ull ? -1 : static_cast<int64_t>(host);
}

void copy(const float* x, int64_t count, float* y, void* stream) {
  if (x == y) return;
  HYBREC_CUDA_CHECK(cudaMemcpyAsync(y, x, static_cast<std::size_t>(count) * sizeof(float),
                                    cudaMemcpyDeviceToDevice, to_stream(stream)));
}

void add(const float* a, const float* b, int64_t count, float* y, void* stream) {
  launch_binary(a, b, count, y, AddOp{}, to_stream(stream));
}

void axpy(float alpha, const float* x, int64_t count, float* y, void* stream) {
  launch_binary(x, y, count, y, AxpyOp{alpha}, to_stream(stream));
}

void scale(float alpha, const float* x, int64_t count, float* y, void* stream) {
  launch_unary(x, count, y, ScaleOp{alpha}, to_stream(stream));
}

void scale_by(const float* alpha_ptr, const float* x, int64_t count, float* y, void* stream) {
  launch_unary(x, count, y, ScaleByOp{alpha_ptr}, to_stream(stream));
}

void mul(const float* a, const float* b, int64_t count, float* y, void* stream) {
  launch_binary(a, b, count, y, MulOp{}, to_stream(stream));
}

void scale_rows(const float* x, const float* row_scale, int64_t rows, int64_t dim, float* y,
                void* stream) {
  launch_row_scale<false>(x, row_scale, rows, dim, y, to_stream(stream));
}

void add_scaled_rows(const float* x, const float* row_scale, int64_t rows, int64_t dim, float* y,
                     void* stream) {
  launch_row_scale<true>(x, row_scale, rows, dim, y, to_stream(stream));
}

void gather_rows(const float* src, int64_t dim, const int64_t* index, int64_t n, float* out,
                 bool accumulate, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const bool vec = dim % 4 == 0 && aligned16(src) && aligned16(out);
  const int64_t items = n * dim / (vec ? 4 : 1);
  const unsigned blocks = grid_for(items, kBlock);
  HYBREC_BOOL_SWITCH(accumulate, kAccumulate, [&] {
    auto kernel = vec ? gather_rows_kernel<4, kAccumulate> : gather_rows_kernel<1, kAccumulate>;
    HYBREC_LAUNCH(kernel, blocks, kBlock, 0, stream, src, dim, index, n, out);
  });
}

void scatter_add_rows(const RowScatter& s, const float* src, int64_t dim, float* dst,
                      void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  if (dim % 4 == 0 && aligned16(src) && aligned16(dst)) {
    HYBREC_LAUNCH(scatter_add_rows_kernel<4>, warp_grid(s.dst_rows), kBlock, 0, stream, s.offsets,
                  s.src_index, s.dst_rows, src, dim, dst);
  } else {
    HYBREC_LAUNCH(scatter_add_rows_kernel<1>, warp_grid(s.dst_rows), kBlock, 0, stream, s.offsets,
                  s.src_index, s.dst_rows, src, dim, dst);
  }
}

void segment_mean_forward(const float* x, int64_t dim, const int64_t* offsets, int64_t segments,
                          float* y, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  if (dim % 4 == 0 && aligned16(x) && aligned16(y)) {
    HYBREC_LAUNCH(segment_mean_forward_kernel<4>, warp_grid(segments), kBlock, 0, stream, x, dim,
                  offsets, segments, y);
  } else {
    HYBREC_LAUNCH(segment_mean_forward_kernel<1>, warp_grid(segments), kBlock, 0, stream, x, dim,
                  offsets, segments, y);
  }
}

void segment_mean_backward(const float* dy, int64_t dim, const int64_t* offsets, int64_t segments,
                           float* dx, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  if (dim % 4 == 0 && aligned16(dy) && aligned16(dx)) {
    HYBREC_LAUNCH(segment_mean_backward_kernel<4>, warp_grid(segments), kBlock, 0, stream, dy, dim,
                  offsets, segments, dx);
  } else {
    HYBREC_LAUNCH(segment_mean_backward_kernel<1>, warp_grid(segments), kBlock, 0, stream, dy, dim,
                  offsets, segments, dx);
  }
}

void row_inverse_norms(const float* x, int64_t rows, int64_t dim, float* inv, void* stream) {
  HYBREC_LAUNCH(row_inverse_norms_kernel, warp_grid(rows), kBlock, 0, to_stream(stream), x, rows,
                dim, inv);
}

void row_dot(const float* a, const int64_t* a_index, const float* b, const int64_t* b_index,
             int64_t n, int64_t dim, float* out, void* stream) {
  HYBREC_LAUNCH(row_dot_kernel, warp_grid(n), kBlock, 0, to_stream(stream), a, a_index, b, b_index,
                n, dim, out);
}

void dot_accumulate(const float* a, const float* b, int64_t count, float* out, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const unsigned blocks = count > 0 ? grid_for(count, kBlock, kMaxDotBlocks) : 0;
  Scratch partials(blocks * sizeof(double), stream);
  if (blocks > 0) {
    HYBREC_LAUNCH(dot_partials_kernel, blocks, kBlock, 0, stream, a, b, count,
                  partials.as<double>());
  }
  HYBREC_LAUNCH(dot_finalize_kernel, 1, kBlock, 0, stream, partials.as<double>(),
                static_cast<int>(blocks), out);
}

void dense_adam_update(const DenseAdamStep& step, const float* grad, int64_t count, float* params,
                       float* m, float* v, void* stream_ptr) {
  if (count == 0) return;
  const cudaStream_t stream = to_stream(stream_ptr);
  HYBREC_LAUNCH(dense_adam_kernel, grid_for(count, kBlock), kBlock, 0, stream, step, grad, count,
                params, m, v);
}

double sum_of_squares(const float* x, int64_t count, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const unsigned blocks = count > 0 ? grid_for(count, kBlock, kMaxDotBlocks) : 0;
  Scratch partials((blocks + 1) * sizeof(double), stream);
  double* parts = partials.as<double>();
  if (blocks > 0) HYBREC_LAUNCH(dot_partials_kernel, blocks, kBlock, 0, stream, x, x, count, parts);
  HYBREC_LAUNCH(sum_finalize_kernel, 1, kBlock, 0, stream, parts, static_cast<int>(blocks),
                parts + blocks);
  double host = 0.0;
  HYBREC_CUDA_CHECK(
      cudaMemcpyAsync(&host, parts + blocks, sizeof(host), cudaMemcpyDeviceToHost, stream));
  HYBREC_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host;
}

}  // namespace hybrec::kernels::cuda

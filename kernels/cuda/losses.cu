// CUDA training losses, BCE-with-logits and sampled softmax (contract in
// hybrec/kernels/dense.h). The forwards write one partial sum per block and
// a single block adds them in order, so the mean repeats bit for bit; the
// sampled softmax's rows go to thread groups sized by the row length.
#include "cuda/check.h"
#include "cuda/dense.h"
#include "cuda/dense_common.cuh"
#include "hybrec/kernels/static_switch.h"

namespace hybrec::kernels::cuda {
namespace dense {
namespace {

// Loss kernels write one partial per block; capping the grid keeps the final
// single-block sum short and makes the summation order depend on n only.
constexpr unsigned kMaxLossBlocks = 1024;

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

using namespace dense;  // NOLINT: this family's own helpers

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

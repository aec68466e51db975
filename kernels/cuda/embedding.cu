// CUDA embedding ops: validation, the pooled forward (also the gather), the
// backward and the sparse optimizer updates. Row tiles are described in
// embedding_tile.cuh, the sort and run walk in embedding_sort.cuh.
#include <cstdint>
#include <cub/cub.cuh>

#include "cuda/check.h"
#include "cuda/embedding.h"
#include "cuda/embedding_sort.cuh"
#include "cuda/embedding_tile.cuh"

namespace hybrec::kernels::cuda {
namespace {

using namespace embedding;  // NOLINT: this file's own helpers

// Records the first offset breaking the CSR rules and the first index out
// of range (atomicMin on positions, so the first one wins whatever the order).
__global__ void find_violation_kernel(const int64_t* __restrict__ indices, int64_t num_indices,
                                      int64_t num_rows, const int64_t* __restrict__ offsets,
                                      int64_t count, unsigned long long* first_bad) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t checked_offsets = offsets != nullptr ? count + 1 : 0;
  const int64_t total = num_indices > checked_offsets ? num_indices : checked_offsets;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += stride) {
    if (offsets != nullptr && i <= count) {
      const int64_t o = offsets[i];
      const bool bad =
          (i == 0 && o != 0) || (i > 0 && o < offsets[i - 1]) || (i == count && o != num_indices);
      if (bad) atomicMin(&first_bad[0], static_cast<unsigned long long>(i));
    }
    if (i < num_indices) {
      const int64_t r = indices[i];
      if (r < 0 || r >= num_rows) atomicMin(&first_bad[1], static_cast<unsigned long long>(i));
    }
  }
}

template <typename Vec, int LANES, bool WEIGHTED>
__global__ void __launch_bounds__(kBlockThreads)
    bag_forward_kernel(const Vec* __restrict__ table, int64_t row_vecs,
                       const int64_t* __restrict__ indices, const int64_t* __restrict__ offsets,
                       const float* __restrict__ weights, int64_t count, bool mean,
                       Vec* __restrict__ out) {
  const int lane = threadIdx.x % LANES;
  const unsigned mask = group_mask<LANES>();
  for (int64_t b = group_id<LANES>(); b < count; b += group_stride<LANES>()) {
    const int64_t begin = offsets != nullptr ? offsets[b] : b;
    const int64_t end = offsets != nullptr ? offsets[b + 1] : b + 1;
    const float scale = (mean && end > begin) ? 1.0f / static_cast<float>(end - begin) : 1.0f;
    for (int64_t c0 = 0; c0 < row_vecs; c0 += LANES) {
      const int64_t c = c0 + lane;
      const bool active = c < row_vecs;
      Vec acc = vzero(Vec{});
      for (int64_t base = begin; base < end; base += LANES) {
        const int n = static_cast<int>(min(static_cast<int64_t>(LANES), end - base));
        const int64_t my_index = lane < n ? __ldg(indices + base + lane) : 0;
        const float my_w = (WEIGHTED && lane < n) ? __ldg(weights + base + lane) : 1.0f;
        acc = add_rows<Vec, LANES, WEIGHTED, kBagUnroll>(acc, table, row_vecs, c, active, n,
                                                         my_index, my_w, mask);
      }
      if (active) out[b * row_vecs + c] = vscale(scale, acc);
    }
  }
}

template <typename Vec, int LANES>
__global__ void __launch_bounds__(kBlockThreads)
    adagrad_update_kernel(Vec* __restrict__ table, float* __restrict__ state, int64_t row_vecs,
                          int64_t dim, const int64_t* __restrict__ ids,
                          const Vec* __restrict__ grads, int64_t num_unique,
                          RowwiseAdagradParams params) {
  const int lane = threadIdx.x % LANES;
  const unsigned mask = group_mask<LANES>();
  for (int64_t i = group_id<LANES>(); i < num_unique; i += group_stride<LANES>()) {
    const int64_t r = ids[i];
    const Vec* g = grads + i * row_vecs;
    adagrad_row<Vec, LANES>(table + r * row_vecs, state + r, row_vecs, dim, lane, mask, params,
                            [&](int64_t c, bool active) { return active ? g[c] : vzero(Vec{}); });
  }
}

// Adam is element-wise: one thread per float, rows located through ids.
// The formula and its rounding follow adam_row in the header.
__global__ void adam_update_kernel(float* __restrict__ table, float* __restrict__ m,
                                   float* __restrict__ v, int64_t dim,
                                   const int64_t* __restrict__ ids, const float* __restrict__ grads,
                                   int64_t num_unique, AdamParams params, float inv_bc1,
                                   float inv_bc2) {
  const int64_t total = num_unique * dim;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const float b1 = params.beta1, b2 = params.beta2;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += stride) {
    const int64_t i = e / dim, j = e - i * dim;
    const int64_t k = ids[i] * dim + j;
    const float g = grads[e];
    const float mj = __fadd_rn(__fmul_rn(b1, m[k]), __fmul_rn(1.0f - b1, g));
    const float vj = __fadd_rn(__fmul_rn(b2, v[k]), __fmul_rn(__fmul_rn(1.0f - b2, g), g));
    m[k] = mj;
    v[k] = vj;
    const float update =
        __fadd_rn(__fdiv_rn(__fmul_rn(mj, inv_bc1),
                            __fadd_rn(__fsqrt_rn(__fmul_rn(vj, inv_bc2)), params.eps)),
                  __fmul_rn(params.weight_decay, table[k]));
    table[k] = __fsub_rn(table[k], __fmul_rn(params.learning_rate, update));
  }
}

}  // namespace

BagsViolation find_bag_violation(const int64_t* indices, int64_t num_indices, int64_t num_rows,
                                 const int64_t* offsets, int64_t count, void* stream_ptr) {
  BagsViolation result;
  const int64_t total = offsets != nullptr ? std::max(num_indices, count + 1) : num_indices;
  if (total == 0) return result;
  const cudaStream_t stream = to_stream(stream_ptr);
  Scratch scratch;
  scratch.take<unsigned long long>(2);
  scratch.allocate(stream);
  auto* first_bad = scratch.take<unsigned long long>(2);
  HYBREC_CUDA_CHECK(cudaMemsetAsync(first_bad, 0xff, 2 * sizeof(unsigned long long), stream));
  HYBREC_LAUNCH(find_violation_kernel, grid_for(total, kBlockThreads), kBlockThreads, 0, stream,
                indices, num_indices, num_rows, offsets, count, first_bad);
  unsigned long long host[2] = {0, 0};
  HYBREC_CUDA_CHECK(cudaMemcpyAsync(host, first_bad, sizeof(host), cudaMemcpyDeviceToHost, stream));
  HYBREC_CUDA_CHECK(cudaStreamSynchronize(stream));
  constexpr unsigned long long kNone = ~0ull;
  if (host[0] != kNone) result.offset_position = static_cast<int64_t>(host[0]);
  if (host[1] != kNone) result.index_position = static_cast<int64_t>(host[1]);
  return result;
}

void embedding_gather(const float* table, int64_t dim, const int64_t* indices, int64_t n,
                      float* out, void* stream) {
  // A gather is a sum over bags of one index: 0 + row is exact.
  EmbeddingBags bags;
  bags.indices = indices;
  bags.count = n;
  bags.num_indices = n;
  embedding_bag_forward(table, dim, bags, out, stream);
}

void embedding_bag_forward(const float* table, int64_t dim, const EmbeddingBags& bags, float* out,
                           void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const bool mean = bags.pooling == Pooling::kMean;
  with_row_tile(dim, aligned16(table) && aligned16(out), [&](auto vec, auto lanes) {
    using Vec = decltype(vec);
    constexpr int kLanes = decltype(lanes)::value;
    const int64_t row_vecs = dim / vec_width<Vec>();
    const auto* t = reinterpret_cast<const Vec*>(table);
    auto* o = reinterpret_cast<Vec*>(out);
    const unsigned grid = blocks_for_groups(bags.count, kLanes);
    if (bags.per_sample_weights != nullptr) {
      HYBREC_LAUNCH((bag_forward_kernel<Vec, kLanes, true>), grid, kBlockThreads, 0, stream, t,
                    row_vecs, bags.indices, bags.offsets, bags.per_sample_weights, bags.count, mean,
                    o);
    } else {
      HYBREC_LAUNCH((bag_forward_kernel<Vec, kLanes, false>), grid, kBlockThreads, 0, stream, t,
                    row_vecs, bags.indices, bags.offsets, nullptr, bags.count, mean, o);
    }
  });
}

int64_t embedding_bag_backward(const EmbeddingBags& bags, const float* grad_out, int64_t num_rows,
                               int64_t dim, int64_t* unique_ids, float* unique_grads,
                               void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const int64_t n = bags.num_indices;
  int32_t* flags = nullptr;
  int32_t* run_out = nullptr;
  void* scan_temp = nullptr;
  std::size_t scan_bytes = 0;
  HYBREC_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, flags, run_out,
                                                  static_cast<int>(n + 1), stream));
  auto extra = [&](Scratch& scratch) {
    flags = scratch.take<int32_t>(n + 1);
    run_out = scratch.take<int32_t>(n + 1);
    scan_temp = scratch.take<char>(scan_bytes);
  };
  int32_t num_unique = 0;
  with_sorted_slots(bags, num_rows, stream, extra, [&](auto slots, bool scaled) {
    using Key = std::remove_cv_t<std::remove_pointer_t<decltype(slots.keys)>>;
    HYBREC_LAUNCH(run_head_flags_kernel<Key>, grid_for(n + 1, kBlockThreads), kBlockThreads, 0,
                  stream, slots.keys, n, flags);
    HYBREC_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(scan_temp, scan_bytes, flags, run_out,
                                                    static_cast<int>(n + 1), stream));
    with_row_tile(dim, aligned16(grad_out) && aligned16(unique_grads), [&](auto vec, auto lanes) {
      using Vec = decltype(vec);
      constexpr int kLanes = decltype(lanes)::value;
      const int64_t row_vecs = dim / vec_width<Vec>();
      const auto* g = reinterpret_cast<const Vec*>(grad_out);
      auto* u = reinterpret_cast<Vec*>(unique_grads);
      const unsigned grid = blocks_for_groups(n, kLanes);
      if (scaled) {
        HYBREC_LAUNCH((run_grad_kernel<Vec, kLanes, true, Key>), grid, kBlockThreads, 0, stream,
                      slots, run_out, g, row_vecs, unique_ids, u);
      } else {
        HYBREC_LAUNCH((run_grad_kernel<Vec, kLanes, false, Key>), grid, kBlockThreads, 0, stream,
                      slots, run_out, g, row_vecs, unique_ids, u);
      }
    });
    HYBREC_CUDA_CHECK(cudaMemcpyAsync(&num_unique, run_out + n, sizeof(num_unique),
                                      cudaMemcpyDeviceToHost, stream));
    HYBREC_CUDA_CHECK(cudaStreamSynchronize(stream));
  });
  return num_unique;
}

void rowwise_adagrad_update(float* table, float* state, int64_t dim, const int64_t* unique_ids,
                            const float* unique_grads, int64_t num_unique,
                            const RowwiseAdagradParams& params, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  with_row_tile(dim, aligned16(table) && aligned16(unique_grads), [&](auto vec, auto lanes) {
    using Vec = decltype(vec);
    constexpr int kLanes = decltype(lanes)::value;
    HYBREC_LAUNCH((adagrad_update_kernel<Vec, kLanes>), blocks_for_groups(num_unique, kLanes),
                  kBlockThreads, 0, stream, reinterpret_cast<Vec*>(table), state,
                  dim / vec_width<Vec>(), dim, unique_ids,
                  reinterpret_cast<const Vec*>(unique_grads), num_unique, params);
  });
}

void adam_update(float* table, float* m, float* v, int64_t dim, const int64_t* unique_ids,
                 const float* unique_grads, int64_t num_unique, const AdamParams& params,
                 void* stream_ptr) {
  const float inv_bc1 = adam_inverse_bias_correction(params.beta1, params.step);
  const float inv_bc2 = adam_inverse_bias_correction(params.beta2, params.step);
  HYBREC_LAUNCH(adam_update_kernel, grid_for(num_unique * dim, kBlockThreads), kBlockThreads, 0,
                to_stream(stream_ptr), table, m, v, dim, unique_ids, unique_grads, num_unique,
                params, inv_bc1, inv_bc2);
}

void embedding_bag_backward_adagrad(const EmbeddingBags& bags, const float* grad_out, float* table,
                                    float* state, int64_t num_rows, int64_t dim,
                                    const RowwiseAdagradParams& params, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const int64_t n = bags.num_indices;
  with_sorted_slots(
      bags, num_rows, stream, [](Scratch&) {},
      [&](auto slots, bool scaled) {
        using Key = std::remove_cv_t<std::remove_pointer_t<decltype(slots.keys)>>;
        with_row_tile(dim, aligned16(grad_out) && aligned16(table), [&](auto vec, auto lanes) {
          using Vec = decltype(vec);
          constexpr int kLanes = decltype(lanes)::value;
          const int64_t row_vecs = dim / vec_width<Vec>();
          const auto* g = reinterpret_cast<const Vec*>(grad_out);
          auto* t = reinterpret_cast<Vec*>(table);
          const unsigned grid = blocks_for_groups(n, kLanes);
          if (scaled) {
            HYBREC_LAUNCH((run_adagrad_kernel<Vec, kLanes, true, Key>), grid, kBlockThreads, 0,
                          stream, slots, g, row_vecs, dim, t, state, params);
          } else {
            HYBREC_LAUNCH((run_adagrad_kernel<Vec, kLanes, false, Key>), grid, kBlockThreads, 0,
                          stream, slots, g, row_vecs, dim, t, state, params);
          }
        });
      });
}

}  // namespace hybrec::kernels::cuda

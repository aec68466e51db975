// CUDA single-token decode attention over a KV cache (contract in
// hybrec/kernels/attention.h). One block per (batch, head), grid-strided:
// each of its warps takes every kWarps-th cached key, computes the score as
// a warp dot product (lanes own head_dim columns) and folds the key into its
// own running softmax (max, sum and the weighted value sum in registers),
// so no score array is stored and max_len is unbounded. The warps' partial
// results are then merged in warp order through shared memory: the result
// depends only on the shapes, never on scheduling.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/attention.h"
#include "cuda/check.h"

namespace hybrec::kernels::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kWarps = 4;
constexpr int kThreads = kWarp * kWarps;
constexpr unsigned kFullMask = 0xffffffffu;

struct DecodeArgs {
  const float* q;
  const float* k;
  const float* v;
  const std::int64_t* lengths;
  float* out;
  std::int64_t batch, heads, head_dim, max_len;
  float scale;
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

// kPerLane = head_dim columns per lane, rounded up (head_dim <= 32 * kPerLane).
template <int kPerLane>
__global__ void __launch_bounds__(kThreads) attention_decode_kernel(DecodeArgs a) {
  constexpr int kMaxDim = kWarp * kPerLane;
  __shared__ float warp_max[kWarps], warp_total[kWarps];
  __shared__ float warp_acc[kWarps][kMaxDim];
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp;
  const std::int64_t D = a.head_dim, ld = a.heads * D;
  for (std::int64_t bh = blockIdx.x; bh < a.batch * a.heads; bh += gridDim.x) {
    const std::int64_t b = bh / a.heads, h = bh % a.heads;
    std::int64_t n = a.lengths[b];
    n = n < 0 ? 0 : (n > a.max_len ? a.max_len : n);
    const float* k = a.k + (b * a.max_len * a.heads + h) * D;
    const float* v = a.v + (b * a.max_len * a.heads + h) * D;
    float q[kPerLane], acc[kPerLane];
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + kWarp * i;
      q[i] = d < D ? a.q[bh * D + d] : 0.0f;
      acc[i] = 0.0f;
    }
    // Running softmax of this warp's keys: max m, sum l of exp(s - m), and
    // acc = sum of exp(s - m) * v. Every lane holds the same m and l.
    float m = -INFINITY, l = 0.0f;
    for (std::int64_t j = warp; j < n; j += kWarps) {
      const float* kj = k + j * ld;
      const float* vj = v + j * ld;
      float part = 0.0f;
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) {
        const int d = lane + kWarp * i;
        if (d < D) part += q[i] * kj[d];
      }
      const float s = a.scale * warp_sum(part);
      const float m_new = fmaxf(m, s);
      const float correction = expf(m - m_new);  // 0 for the first key (m = -inf)
      const float p = expf(s - m_new);
      l = l * correction + p;
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) {
        const int d = lane + kWarp * i;
        acc[i] = acc[i] * correction + (d < D ? p * vj[d] : 0.0f);
      }
      m = m_new;
    }
    if (lane == 0) {
      warp_max[warp] = m;
      warp_total[warp] = l;
    }
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) warp_acc[warp][lane + kWarp * i] = acc[i];
    __syncthreads();
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, warp_max[w]);
    for (std::int64_t d = threadIdx.x; d < D; d += kThreads) {
      float total = 0.0f, o = 0.0f;
      if (mx > -INFINITY) {  // n == 0 leaves every warp empty: out = 0
#pragma unroll
        for (int w = 0; w < kWarps; ++w) {
          const float f = expf(warp_max[w] - mx);  // 0 for a warp without keys
          total += warp_total[w] * f;
          o += warp_acc[w][d] * f;
        }
        o /= total;
      }
      a.out[bh * D + d] = o;
    }
    __syncthreads();  // the shared arrays are refilled by the next (batch, head)
  }
}

template <int kPerLane>
void launch(const DecodeArgs& args, cudaStream_t stream) {
  const unsigned blocks = grid_for(args.batch * args.heads, 1);
  HYBREC_LAUNCH(attention_decode_kernel<kPerLane>, blocks, kThreads, 0, stream, args);
}

}  // namespace

void attention_decode_forward(const AttentionDecodeParams& p, float scale, void* stream_ptr) {
  const cudaStream_t stream = to_stream(stream_ptr);
  const DecodeArgs args{p.q,     p.k_cache, p.v_cache,  p.lengths, p.out,
                        p.batch, p.heads,   p.head_dim, p.max_len, scale};
  if (p.head_dim <= 32) {
    launch<1>(args, stream);
  } else if (p.head_dim <= 64) {
    launch<2>(args, stream);
  } else if (p.head_dim <= 128) {
    launch<4>(args, stream);
  } else {
    launch<8>(args, stream);
  }
}

}  // namespace hybrec::kernels::cuda

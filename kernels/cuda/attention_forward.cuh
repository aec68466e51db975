// Attention forward: one block per (query tile, batch*head), online softmax
// over key tiles staged in shared memory; nothing L x L touches global memory.
#pragma once

#include <cstdint>

#include "cuda/attention_tile.cuh"

namespace hybrec::kernels::cuda::attention_detail {

constexpr int kMaxSeqLen = 512;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// Fills key_bias[0, n) with 0 for an attendable key and -inf for a padded key
// or one at or past seq_len, and returns one past the last attendable key (0
// if none) to the whole block. warp_scratch holds one int per warp. Ends with
// __syncthreads.
__device__ __forceinline__ int load_key_bias(float* key_bias, int n, const std::uint8_t* mask,
                                             int seq_len, int* warp_scratch) {
  int last = -1;
  for (int j = threadIdx.x; j < n; j += kThreads) {
    const bool valid = j < seq_len && (mask == nullptr || mask[j] == 0);
    key_bias[j] = valid ? 0.0f : -INFINITY;
    if (valid) last = j;
  }
  last = __reduce_max_sync(0xffffffffu, last);
  if (threadIdx.x % 32 == 0) warp_scratch[threadIdx.x / 32] = last;
  __syncthreads();
  int block_last = warp_scratch[0];
#pragma unroll
  for (int w = 1; w < kThreads / 32; ++w) block_last = max(block_last, warp_scratch[w]);
  return block_last + 1;
}

struct ForwardArgs {
  const float* q;
  const float* k;
  const float* v;
  const std::uint8_t* mask;  // [batch, seq_len] or nullptr
  float* out;
  float* lse;
  int seq_len;
  int heads;
  float scale_log2;  // scale * log2(e): scores live in base 2 for exp2f
};

// 64 x 64 tiles for head_dim <= 64: per thread 4 rows x 8 keys of scores and
// 4 rows x head_dim/8 outputs, 32 FMAs per 3 float4 shared loads; 72 KB of
// shared memory lets 3 blocks share an SM. head_dim 128 halves the key tile
// to keep the output block in registers and 2 blocks per SM.
template <int D>
struct ForwardTiles {
  static constexpr int kRows = 64;
  static constexpr int kCols = D == 128 ? 32 : 64;
  static constexpr int kSmemFloats = kRows * (D + kPad) + 2 * kCols * (D + kPad) +
                                     kRows * (kCols + kPadP) + kMaxSeqLen + kThreads / 32;
};

template <int D, bool kCausal>
__global__ void __launch_bounds__(kThreads) attention_forward_kernel(ForwardArgs a) {
  constexpr int BR = ForwardTiles<D>::kRows, BC = ForwardTiles<D>::kCols;
  constexpr int RPT = BR / 16, NC = BC / 8;
  constexpr int LD = D + kPad, LDP = BC + kPadP;
  extern __shared__ float4 smem_f4[];
  float* q_s = reinterpret_cast<float*>(smem_f4);
  float* k_s = q_s + BR * LD;
  float* v_s = k_s + BC * LD;
  float* p_s = v_s + BC * LD;
  float* key_bias = p_s + BR * LDP;
  int* warp_scratch = reinterpret_cast<int*>(key_bias + kMaxSeqLen);

  const int L = a.seq_len;
  const int n_qtiles = (L + BR - 1) / BR;
  const int q0 = static_cast<int>(blockIdx.x % n_qtiles) * BR;
  const std::int64_t bh = blockIdx.x / n_qtiles;
  const std::int64_t b = bh / a.heads;
  const std::int64_t ld = static_cast<std::int64_t>(a.heads) * D;
  const std::int64_t head = b * L * ld + (bh % a.heads) * D;

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int tx = lane % 8;
  const int row0 = warp * 4 * RPT + lane / 8;  // tile row of this thread's i = 0
  const int warp_row_begin = q0 + warp * 4 * RPT, warp_row_end = warp_row_begin + 4 * RPT;

  // Q and the first K tile in one group, the first V tile in the next, so the
  // scores can start before V has arrived.
  load_tile_async<BR, D>(q_s, a.q + head, ld, q0, L);
  load_tile_async<BC, D>(k_s, a.k + head, ld, 0, L);
  cp_async_commit();
  load_tile_async<BC, D>(v_s, a.v + head, ld, 0, L);
  cp_async_commit();

  int kv_end = load_key_bias(key_bias, (L + BC - 1) / BC * BC, a.mask ? a.mask + b * L : nullptr, L,
                             warp_scratch);
  // Key tiles past the last unpadded key, or wholly in this query tile's
  // future, are skipped.
  if (kCausal) kv_end = min(kv_end, q0 + BR);
  const int n_ktiles = (kv_end + BC - 1) / BC;
  const bool warp_active = warp_row_begin < L;
  const int warp_key_end = kCausal ? min(kv_end, warp_row_end) : kv_end;

  float m[RPT], l[RPT], o[RPT][D / 8];
#pragma unroll
  for (int i = 0; i < RPT; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int c = 0; c < D / 8; ++c) o[i][c] = 0.0f;
  }

  // Pipeline: K(t+1) streams in while P V(t) runs, V(t+1) while Q K(t+1) runs.
  for (int kt = 0; kt < n_ktiles; ++kt) {
    const int k0 = kt * BC;
    cp_async_wait<1>();
    __syncthreads();
    // Columns of this tile the warp needs, in whole 8-key chunks (warp-uniform).
    const int cols = warp_key_end - k0;
    const int kc_end = cols <= 0 ? 0 : min(NC, (cols + 7) / 8);
    const bool compute = warp_active && kc_end > 0;
    if (compute) {
      float s[RPT][NC];
#pragma unroll
      for (int i = 0; i < RPT; ++i) {
#pragma unroll
        for (int k = 0; k < NC; ++k) s[i][k] = 0.0f;
      }
      if (kc_end == NC) {
        tile_dot<D, RPT, NC, true>(q_s, k_s, row0, tx, 0, NC, s);
      } else {
        tile_dot<D, RPT, NC, false>(q_s, k_s, row0, tx, 0, kc_end, s);
      }
#pragma unroll
      for (int i = 0; i < RPT; ++i) {
        const int qrow = q0 + row0 + 4 * i;
        float mx = -INFINITY;
#pragma unroll
        for (int k = 0; k < NC; ++k) {
          const int key = k0 + tx + 8 * k;
          float x = k < kc_end ? fmaf(s[i][k], a.scale_log2, key_bias[key]) : -INFINITY;
          if (kCausal && key > qrow) x = -INFINITY;
          s[i][k] = x;
          mx = fmaxf(mx, x);
        }
        mx = row_max(mx);
        const float m_new = fmaxf(m[i], mx);
        // While every key so far is masked m_new is -inf; subtracting 0
        // instead keeps exp2f(-inf - base) = 0 rather than NaN.
        const float base = m_new == -INFINITY ? 0.0f : m_new;
        const float alpha = exp2f(m[i] - base);
        float psum = 0.0f;
#pragma unroll
        for (int k = 0; k < NC; ++k) {
          const float p = exp2f(s[i][k] - base);
          psum += p;
          if (k < kc_end) p_s[(row0 + 4 * i) * LDP + tx + 8 * k] = p;
        }
        // l stays a per-lane partial sum; the 8 lanes of a row share m and
        // alpha, so one reduction at the end gives the row sum.
        l[i] = l[i] * alpha + psum;
        m[i] = m_new;
#pragma unroll
        for (int c = 0; c < D / 8; ++c) o[i][c] *= alpha;
      }
    }
    cp_async_wait<0>();
    __syncthreads();  // V(kt) visible to all; every warp is done with K(kt)
    if (kt + 1 < n_ktiles) {
      load_tile_async<BC, D>(k_s, a.k + head, ld, k0 + BC, L);
      cp_async_commit();
    }
    if (compute) {
      const int j_end = min(BC, (cols + 3) / 4 * 4);
      tile_accumulate<D, RPT, LDP>(p_s, v_s, row0, tx, 0, j_end, o);
    }
    __syncthreads();  // every warp is done with V(kt)
    if (kt + 1 < n_ktiles) {
      load_tile_async<BC, D>(v_s, a.v + head, ld, k0 + BC, L);
      cp_async_commit();
    }
  }
  cp_async_wait<0>();  // no copy may still target shared memory at exit

  float inv[RPT];
#pragma unroll
  for (int i = 0; i < RPT; ++i) {
    const float total = row_sum(l[i]);
    inv[i] = total > 0.0f ? 1.0f / total : 0.0f;
    const int qrow = q0 + row0 + 4 * i;
    if (tx == 0 && qrow < L) {
      a.lse[bh * L + qrow] = total > 0.0f ? (m[i] + log2f(total)) * kLn2 : -INFINITY;
    }
  }
  store_rows<D, RPT>(a.out + head, ld, q0 + row0, L, tx, o, inv);
}

}  // namespace hybrec::kernels::cuda::attention_detail

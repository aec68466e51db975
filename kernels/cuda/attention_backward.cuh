// Attention backward, recomputing P from the saved lse (no L x L matrix in
// global memory), in three kernels:
//   attention_delta_kernel  D_i = rowsum(dO_i * O_i)
//   attention_dq_kernel     one block per (query tile, batch*head), loops over
//                           key tiles: dQ = scale * dS K
//   attention_dkdv_kernel   one block per (key tile, batch*head), loops over
//                           query tiles: dV = P^T dO, dK = scale * dS^T Q
// Separate dq and dk/dv kernels instead of atomics into dq: every output
// element is written once by one thread, so results are deterministic and dq
// needs no zeroing pass; the price is recomputing Q K^T and dO V^T in both
// kernels (7 tile products instead of 5).
#pragma once

#include <cstdint>

#include "cuda/attention_forward.cuh"
#include "cuda/attention_tile.cuh"

namespace hybrec::kernels::cuda::attention_detail {

// One warp per (batch, position, head) row of dO and O; delta is
// [batch, heads, seq_len] like lse.
template <int D>
__global__ void __launch_bounds__(256)
    attention_delta_kernel(const float* out, const float* dout, float* delta, std::int64_t rows,
                           int seq_len, int heads) {
  const int lane = threadIdx.x % 32;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * (blockDim.x / 32);
  for (std::int64_t r = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
       r < rows; r += warps) {
    float sum = 0.0f;
#pragma unroll
    for (int d = lane; d < D; d += 32) sum += out[r * D + d] * dout[r * D + d];
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0) {
      const std::int64_t h = r % heads, bl = r / heads;
      const std::int64_t b = bl / seq_len, l = bl % seq_len;
      delta[(b * heads + h) * seq_len + l] = sum;
    }
  }
}

struct BackwardArgs {
  const float* q;
  const float* k;
  const float* v;
  const float* dout;
  const float* lse;
  const float* delta;
  const std::uint8_t* mask;
  float* dq;
  float* dk;
  float* dv;
  int seq_len;
  int heads;
  float scale;
  float scale_log2;
};

// lse in base 2 for exp2f; a fully masked query (lse = -inf) becomes +inf so
// that every P of its row is exp2f(-inf) = 0.
__device__ __forceinline__ float lse_log2(float lse) {
  return lse == -INFINITY ? INFINITY : lse * kLog2e;
}

// dq: 64 queries x 32 keys (32 x 32 at head_dim 128): per thread 4 rows of S
// and dP over 4 keys plus 4 rows x head_dim/8 of dQ in registers.
template <int D>
struct DqTiles {
  static constexpr int kRows = D == 128 ? 32 : 64;
  static constexpr int kCols = 32;
  static constexpr int kSmemFloats = 2 * kRows * (D + kPad) + 2 * kCols * (D + kPad) +
                                     kRows * (kCols + kPadP) + kMaxSeqLen + kThreads / 32;
};

template <int D, bool kCausal>
__global__ void __launch_bounds__(kThreads) attention_dq_kernel(BackwardArgs a) {
  constexpr int BR = DqTiles<D>::kRows, BC = DqTiles<D>::kCols;
  constexpr int RPT = BR / 16, NC = BC / 8;
  constexpr int LD = D + kPad, LDP = BC + kPadP;
  extern __shared__ float4 smem_f4[];
  float* q_s = reinterpret_cast<float*>(smem_f4);
  float* do_s = q_s + BR * LD;
  float* k_s = do_s + BR * LD;
  float* v_s = k_s + BC * LD;
  float* ds_s = v_s + BC * LD;
  float* key_bias = ds_s + BR * LDP;
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
  const int row0 = warp * 4 * RPT + lane / 8;
  const int warp_row_begin = q0 + warp * 4 * RPT, warp_row_end = warp_row_begin + 4 * RPT;

  load_tile_async<BR, D>(q_s, a.q + head, ld, q0, L);
  load_tile_async<BR, D>(do_s, a.dout + head, ld, q0, L);
  load_tile_async<BC, D>(k_s, a.k + head, ld, 0, L);
  load_tile_async<BC, D>(v_s, a.v + head, ld, 0, L);
  cp_async_commit();

  float row_lse2[RPT], row_delta[RPT];
#pragma unroll
  for (int i = 0; i < RPT; ++i) {
    const int qrow = q0 + row0 + 4 * i;
    row_lse2[i] = qrow < L ? lse_log2(a.lse[bh * L + qrow]) : INFINITY;
    row_delta[i] = qrow < L ? a.delta[bh * L + qrow] : 0.0f;
  }

  int kv_end = load_key_bias(key_bias, (L + BC - 1) / BC * BC, a.mask ? a.mask + b * L : nullptr, L,
                             warp_scratch);
  if (kCausal) kv_end = min(kv_end, q0 + BR);
  const int n_ktiles = (kv_end + BC - 1) / BC;
  const bool warp_active = warp_row_begin < L;
  const int warp_key_end = kCausal ? min(kv_end, warp_row_end) : kv_end;

  float acc[RPT][D / 8];
#pragma unroll
  for (int i = 0; i < RPT; ++i) {
#pragma unroll
    for (int c = 0; c < D / 8; ++c) acc[i][c] = 0.0f;
  }

  for (int kt = 0; kt < n_ktiles; ++kt) {
    const int k0 = kt * BC;
    cp_async_wait<0>();
    __syncthreads();
    const int cols = warp_key_end - k0;
    const int kc_end = cols <= 0 ? 0 : min(NC, (cols + 7) / 8);
    const bool compute = warp_active && kc_end > 0;
    if (compute) {
      float s[RPT][NC], dp[RPT][NC];
#pragma unroll
      for (int i = 0; i < RPT; ++i) {
#pragma unroll
        for (int k = 0; k < NC; ++k) s[i][k] = dp[i][k] = 0.0f;
      }
      if (kc_end == NC) {
        tile_dot<D, RPT, NC, true>(q_s, k_s, row0, tx, 0, NC, s);
        tile_dot<D, RPT, NC, true>(do_s, v_s, row0, tx, 0, NC, dp);
      } else {
        tile_dot<D, RPT, NC, false>(q_s, k_s, row0, tx, 0, kc_end, s);
        tile_dot<D, RPT, NC, false>(do_s, v_s, row0, tx, 0, kc_end, dp);
      }
#pragma unroll
      for (int i = 0; i < RPT; ++i) {
        const int qrow = q0 + row0 + 4 * i;
#pragma unroll
        for (int k = 0; k < NC; ++k) {
          if (k >= kc_end) continue;
          const int key = k0 + tx + 8 * k;
          float x = fmaf(s[i][k], a.scale_log2, key_bias[key]) - row_lse2[i];
          if (kCausal && key > qrow) x = -INFINITY;
          const float p = exp2f(x);
          ds_s[(row0 + 4 * i) * LDP + tx + 8 * k] = p * (dp[i][k] - row_delta[i]);
        }
      }
    }
    __syncthreads();  // dS visible; every warp is done with V(kt)
    if (kt + 1 < n_ktiles) load_tile_async<BC, D>(v_s, a.v + head, ld, k0 + BC, L);
    if (compute) {
      const int j_end = min(BC, (cols + 3) / 4 * 4);
      tile_accumulate<D, RPT, LDP>(ds_s, k_s, row0, tx, 0, j_end, acc);
    }
    __syncthreads();  // every warp is done with K(kt) and dS
    if (kt + 1 < n_ktiles) {
      load_tile_async<BC, D>(k_s, a.k + head, ld, k0 + BC, L);
      cp_async_commit();
    }
  }
  cp_async_wait<0>();

  float factor[RPT];
#pragma unroll
  for (int i = 0; i < RPT; ++i) factor[i] = a.scale;
  store_rows<D, RPT>(a.dq + head, ld, q0 + row0, L, tx, acc, factor);
}

// dk/dv: 64 keys x 32 queries (32 x 32 at head_dim 128): per thread 4 key
// rows of P^T and dP^T over 4 queries plus 4 rows x head_dim/8 of both dK and
// dV in registers.
template <int D>
struct DkdvTiles {
  static constexpr int kRows = D == 128 ? 32 : 64;
  static constexpr int kCols = 32;
  static constexpr int kSmemFloats =
      2 * kRows * (D + kPad) + 2 * kCols * (D + kPad) + 2 * kRows * (kCols + kPadP) + 2 * kCols;
};

template <int D, bool kCausal>
__global__ void __launch_bounds__(kThreads) attention_dkdv_kernel(BackwardArgs a) {
  constexpr int BK = DkdvTiles<D>::kRows, BQ = DkdvTiles<D>::kCols;
  constexpr int RPT = BK / 16, NC = BQ / 8;
  constexpr int LD = D + kPad, LDP = BQ + kPadP;
  extern __shared__ float4 smem_f4[];
  float* k_s = reinterpret_cast<float*>(smem_f4);
  float* v_s = k_s + BK * LD;
  float* q_s = v_s + BK * LD;
  float* do_s = q_s + BQ * LD;
  float* pt_s = do_s + BQ * LD;
  float* dst_s = pt_s + BK * LDP;
  float* lse2_s = dst_s + BK * LDP;
  float* delta_s = lse2_s + BQ;

  const int L = a.seq_len;
  const int n_ktiles = (L + BK - 1) / BK;
  const int k0 = static_cast<int>(blockIdx.x % n_ktiles) * BK;
  const std::int64_t bh = blockIdx.x / n_ktiles;
  const std::int64_t b = bh / a.heads;
  const std::int64_t ld = static_cast<std::int64_t>(a.heads) * D;
  const std::int64_t head = b * L * ld + (bh % a.heads) * D;
  const std::uint8_t* mask = a.mask ? a.mask + b * L : nullptr;

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int tx = lane % 8;
  const int row0 = warp * 4 * RPT + lane / 8;
  const int warp_key_begin = k0 + warp * 4 * RPT;

  float dk[RPT][D / 8], dv[RPT][D / 8];
#pragma unroll
  for (int i = 0; i < RPT; ++i) {
#pragma unroll
    for (int c = 0; c < D / 8; ++c) dk[i][c] = dv[i][c] = 0.0f;
  }

  // A tile of only padded keys gets zero gradients without any work.
  const int my_key = k0 + static_cast<int>(threadIdx.x);
  const bool my_key_valid =
      threadIdx.x < BK && my_key < L && (mask == nullptr || mask[my_key] == 0);
  if (!__syncthreads_or(my_key_valid)) {
    float zero[RPT] = {};
    store_rows<D, RPT>(a.dk + head, ld, k0 + row0, L, tx, dk, zero);
    store_rows<D, RPT>(a.dv + head, ld, k0 + row0, L, tx, dv, zero);
    return;
  }

  load_tile_async<BK, D>(k_s, a.k + head, ld, k0, L);
  load_tile_async<BK, D>(v_s, a.v + head, ld, k0, L);
  cp_async_commit();

  float key_bias[RPT];
#pragma unroll
  for (int i = 0; i < RPT; ++i) {
    const int key = k0 + row0 + 4 * i;
    key_bias[i] = key < L && (mask == nullptr || mask[key] == 0) ? 0.0f : -INFINITY;
  }
  const bool warp_active = warp_key_begin < L;

  // Causal: queries before this key tile never see it.
  const int n_qtiles = (L + BQ - 1) / BQ;
  for (int qt = kCausal ? k0 / BQ : 0; qt < n_qtiles; ++qt) {
    const int q0 = qt * BQ;
    load_tile_async<BQ, D>(q_s, a.q + head, ld, q0, L);
    load_tile_async<BQ, D>(do_s, a.dout + head, ld, q0, L);
    cp_async_commit();
    for (int c = threadIdx.x; c < BQ; c += kThreads) {
      const int q = q0 + c;
      lse2_s[c] = q < L ? lse_log2(a.lse[bh * L + q]) : INFINITY;
      delta_s[c] = q < L ? a.delta[bh * L + q] : 0.0f;
    }
    cp_async_wait<0>();
    __syncthreads();
    // Query chunks the warp needs: past the sequence end nothing; under the
    // causal mask, queries before the warp's first key see none of its keys.
    const int kc_begin = kCausal ? max(0, (warp_key_begin - q0) / 8) : 0;
    const int kc_end = min(NC, (L - q0 + 7) / 8);
    if (warp_active && kc_begin < kc_end) {
      float st[RPT][NC], dpt[RPT][NC];
#pragma unroll
      for (int i = 0; i < RPT; ++i) {
#pragma unroll
        for (int k = 0; k < NC; ++k) st[i][k] = dpt[i][k] = 0.0f;
      }
      if (kc_begin == 0 && kc_end == NC) {
        tile_dot<D, RPT, NC, true>(k_s, q_s, row0, tx, 0, NC, st);
        tile_dot<D, RPT, NC, true>(v_s, do_s, row0, tx, 0, NC, dpt);
      } else {
        tile_dot<D, RPT, NC, false>(k_s, q_s, row0, tx, kc_begin, kc_end, st);
        tile_dot<D, RPT, NC, false>(v_s, do_s, row0, tx, kc_begin, kc_end, dpt);
      }
#pragma unroll
      for (int i = 0; i < RPT; ++i) {
        const int key = k0 + row0 + 4 * i;
#pragma unroll
        for (int k = 0; k < NC; ++k) {
          if (k < kc_begin || k >= kc_end) continue;
          const int c = tx + 8 * k;
          float x = fmaf(st[i][k], a.scale_log2, key_bias[i]) - lse2_s[c];
          if (kCausal && key > q0 + c) x = -INFINITY;
          const float p = exp2f(x);
          pt_s[(row0 + 4 * i) * LDP + c] = p;
          dst_s[(row0 + 4 * i) * LDP + c] = p * (dpt[i][k] - delta_s[c]);
        }
      }
      // P^T and dS^T rows are private to the warp that wrote them.
      __syncwarp();
      const int j_begin = 8 * kc_begin;
      const int j_end = min(8 * kc_end, (L - q0 + 3) / 4 * 4);
      tile_accumulate<D, RPT, LDP>(pt_s, do_s, row0, tx, j_begin, j_end, dv);
      tile_accumulate<D, RPT, LDP>(dst_s, q_s, row0, tx, j_begin, j_end, dk);
    }
    __syncthreads();  // every warp is done with Q, dO, lse2 and delta of this tile
  }

  float dk_factor[RPT], dv_factor[RPT];
#pragma unroll
  for (int i = 0; i < RPT; ++i) {
    dk_factor[i] = a.scale;
    dv_factor[i] = 1.0f;
  }
  store_rows<D, RPT>(a.dk + head, ld, k0 + row0, L, tx, dk, dk_factor);
  store_rows<D, RPT>(a.dv + head, ld, k0 + row0, L, tx, dv, dv_factor);
}

}  // namespace hybrec::kernels::cuda::attention_detail

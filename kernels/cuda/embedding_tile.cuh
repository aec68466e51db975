// Row tiles shared by the CUDA embedding kernels.
//
// A group of LANES consecutive lanes (4..32, a power of two) owns one
// output row (a bag in the forward, a unique row in the backward); lane l
// handles the row's vectors l, l + LANES, ... (float4 when dim % 4 == 0 and
// the pointers are 16-byte aligned, else float). LANES is the smallest power
// of two covering the row, so dim 64 puts two bags in a warp instead of
// idling half of it. A group loads up to LANES of its indices at once (one
// per lane, coalesced) and broadcasts them with shuffles; each lane then
// issues several independent row loads before it adds any of them, which is
// what keeps enough bytes in flight: a 4096-bag batch is only tens of MB,
// too little to hide HBM latency one load at a time.
//
// Sums use __fadd_rn/__fmul_rn (no FMA contraction) and add in position
// order, so the forward and the backward's gradients equal the CPU
// backend's bit for bit.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "cuda/check.h"
#include "hybrec/kernels/embedding.h"

namespace hybrec::kernels::cuda::embedding {

constexpr int kBlockThreads = 256;
// Row loads in flight per lane: 8 for the forward's bags (tens of rows);
// 4 for the backward's runs of equal ids, which are mostly 1 or 2 slots long
// with uniform ids, where more would only cost registers and occupancy.
constexpr int kBagUnroll = 8;
constexpr int kRunUnroll = 4;

// ---- vectors of 1 or 4 floats --------------------------------------------------

__device__ __forceinline__ float vzero(float) { return 0.0f; }
__device__ __forceinline__ float4 vzero(float4) { return make_float4(0.0f, 0.0f, 0.0f, 0.0f); }

__device__ __forceinline__ float vadd(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float4 vadd(float4 a, float4 b) {
  return make_float4(__fadd_rn(a.x, b.x), __fadd_rn(a.y, b.y), __fadd_rn(a.z, b.z),
                     __fadd_rn(a.w, b.w));
}
__device__ __forceinline__ float vscale(float s, float a) { return __fmul_rn(s, a); }
__device__ __forceinline__ float4 vscale(float s, float4 a) {
  return make_float4(__fmul_rn(s, a.x), __fmul_rn(s, a.y), __fmul_rn(s, a.z), __fmul_rn(s, a.w));
}
// a - s * b, rounded as the CPU's `a -= s * b`.
__device__ __forceinline__ float vsub_scaled(float a, float s, float b) {
  return __fsub_rn(a, __fmul_rn(s, b));
}
__device__ __forceinline__ float4 vsub_scaled(float4 a, float s, float4 b) {
  return make_float4(vsub_scaled(a.x, s, b.x), vsub_scaled(a.y, s, b.y), vsub_scaled(a.z, s, b.z),
                     vsub_scaled(a.w, s, b.w));
}
__device__ __forceinline__ float vsum_sq(float a) { return a * a; }
__device__ __forceinline__ float vsum_sq(float4 a) {
  return (a.x * a.x + a.y * a.y) + (a.z * a.z + a.w * a.w);
}

template <typename Vec>
constexpr int vec_width() {
  return sizeof(Vec) / sizeof(float);
}

// ---- groups of LANES lanes ------------------------------------------------------

// Shuffle mask of the LANES-wide group the calling lane belongs to.
template <int LANES>
__device__ __forceinline__ unsigned group_mask() {
  if constexpr (LANES == 32) {
    return 0xffffffffu;
  } else {
    const unsigned lane_in_warp = threadIdx.x % 32;
    return ((1u << LANES) - 1u) << (lane_in_warp & ~unsigned(LANES - 1));
  }
}

template <int LANES>
__device__ __forceinline__ float group_sum(float v, unsigned mask) {
#pragma unroll
  for (int offset = LANES / 2; offset > 0; offset /= 2)
    v += __shfl_xor_sync(mask, v, offset, LANES);
  return v;
}

template <int LANES>
__device__ __forceinline__ int64_t group_id() {
  return static_cast<int64_t>(blockIdx.x) * (kBlockThreads / LANES) + threadIdx.x / LANES;
}
template <int LANES>
__device__ __forceinline__ int64_t group_stride() {
  return static_cast<int64_t>(gridDim.x) * (kBlockThreads / LANES);
}

// acc + sum over the group's n (<= LANES) entries, held one per lane in
// (my_row, my_coef), of coef * src[row * row_vecs + c], added in lane order.
// Loads are issued UNROLL at a time before any add, to be in flight together.
template <typename Vec, int LANES, bool SCALED, int UNROLL>
__device__ __forceinline__ Vec add_rows(Vec acc, const Vec* __restrict__ src, int64_t row_vecs,
                                        int64_t c, bool active, int n, int64_t my_row,
                                        float my_coef, unsigned mask) {
  for (int j0 = 0; j0 < n; j0 += UNROLL) {
    Vec v[UNROLL];
    float w[UNROLL];
#pragma unroll
    for (int k = 0; k < UNROLL; ++k) {
      const int64_t row = __shfl_sync(mask, my_row, j0 + k, LANES);
      w[k] = SCALED ? __shfl_sync(mask, my_coef, j0 + k, LANES) : 1.0f;
      v[k] = (active && j0 + k < n) ? __ldg(src + row * row_vecs + c) : vzero(Vec{});
    }
#pragma unroll
    for (int k = 0; k < UNROLL; ++k) {
      if (j0 + k < n) acc = vadd(acc, SCALED ? vscale(w[k], v[k]) : v[k]);
    }
  }
  return acc;
}

// Row-wise Adagrad of one row, given grad(c, active) producing this lane's
// gradient vector c. A row that fits one chunk (dim <= 4 * LANES for float4)
// keeps its gradient in registers; wider rows recompute each chunk in a
// second pass instead of holding the whole row. The rounding follows
// rowwise_adagrad_row in the header except for the order of the sum of squares.
template <typename Vec, int LANES, typename GradFn>
__device__ __forceinline__ void adagrad_row(Vec* __restrict__ w, float* __restrict__ state,
                                            int64_t row_vecs, int64_t dim, int lane, unsigned mask,
                                            const RowwiseAdagradParams& params, GradFn&& grad) {
  const bool first_active = lane < row_vecs;
  // The row's loads are issued before the gradient's, so both are in flight.
  const Vec w_first = first_active ? w[lane] : vzero(Vec{});
  // Lane 0 alone reads and writes the state, so no lane can read it after
  // another has updated it.
  const float state_old = __shfl_sync(mask, lane == 0 ? *state : 0.0f, 0, LANES);
  Vec g_first = vzero(Vec{});
  float sum_sq = 0.0f;
  for (int64_t c0 = 0; c0 < row_vecs; c0 += LANES) {
    const int64_t c = c0 + lane;
    const Vec g = grad(c, c < row_vecs);
    if (c < row_vecs) sum_sq += vsum_sq(g);
    if (c0 == 0) g_first = g;
  }
  sum_sq = group_sum<LANES>(sum_sq, mask);
  const float s = __fadd_rn(state_old, __fdiv_rn(sum_sq, static_cast<float>(dim)));
  const float step = __fdiv_rn(params.learning_rate, __fadd_rn(__fsqrt_rn(s), params.eps));
  if (first_active) w[lane] = vsub_scaled(w_first, step, g_first);
  for (int64_t c0 = LANES; c0 < row_vecs; c0 += LANES) {
    const int64_t c = c0 + lane;
    const Vec g = grad(c, c < row_vecs);
    if (c < row_vecs) w[c] = vsub_scaled(w[c], step, g);
  }
  if (lane == 0) *state = s;
}

// ---- host-side launch helpers ----------------------------------------------------

// Lanes per row: the smallest power of two in [4, 32] covering the row's vectors.
inline int lanes_for(int64_t row_vecs) {
  int lanes = 4;
  while (lanes < 32 && lanes < row_vecs) lanes *= 2;
  return lanes;
}

inline bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// Calls fn(Vec{}, std::integral_constant<int, LANES>{}) for the row shape:
// float4 vectors when dim % 4 == 0 and the caller's pointers allow it.
template <typename Fn>
void with_row_tile(int64_t dim, bool aligned, Fn&& fn) {
  const bool use_float4 = aligned && dim % 4 == 0;
  const int64_t row_vecs = use_float4 ? dim / 4 : dim;
  auto with_lanes = [&](auto vec) {
    switch (lanes_for(row_vecs)) {
      case 4:
        return fn(vec, std::integral_constant<int, 4>{});
      case 8:
        return fn(vec, std::integral_constant<int, 8>{});
      case 16:
        return fn(vec, std::integral_constant<int, 16>{});
      default:
        return fn(vec, std::integral_constant<int, 32>{});
    }
  };
  if (use_float4) {
    with_lanes(float4{});
  } else {
    with_lanes(float{});
  }
}

inline unsigned blocks_for_groups(int64_t groups, int lanes) {
  return grid_for(groups, kBlockThreads / lanes);
}

}  // namespace hybrec::kernels::cuda::embedding

// Building blocks shared by the attention kernels: asynchronous tile loads
// into padded shared memory and the two register-blocked tile products.
//
// Thread layout (128 threads = 4 warps). A block owns a tile of ROWS = 16*RPT
// rows (queries in the forward and dq kernels, keys in the dk/dv kernel). Warp
// w owns the contiguous rows [4*RPT*w, 4*RPT*(w+1)); lane = 8*t + tx, and the
// thread holds rows 4*RPT*w + t + 4*i (i < RPT). The 8 lanes that share a row
// (same t) differ in tx, so row reductions are 3 xor-shuffles inside the warp,
// and each warp only ever reads back the rows of P / dS it wrote itself.
//
// Shared tiles are row-major with padded rows: rows stay 16-byte aligned for
// float4 access and consecutive rows start on different banks, so the
// accesses are conflict-free by construction:
//   Q/K/V-like tiles (row = D + 4 floats): in tile_dot 8 lanes (tx) read a
//     float4 from each of 8 consecutive rows (4-word skew: all 32 banks), the
//     4 t-groups a float4 from 4 consecutive rows of A.
//   P-like tiles (row = columns + 8 floats): the scalar stores of a warp land
//     on banks 8t + tx (+ 8k), and tile_accumulate's float4 reads of 4
//     consecutive rows on banks 8t..8t+3; the V reads are 128 contiguous bytes.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace hybrec::kernels::cuda::attention_detail {

constexpr int kThreads = 128;
constexpr int kPad = 4;   // Q, K, V, dO tiles
constexpr int kPadP = 8;  // P, dS tiles

// 16-byte global -> shared copy that bypasses L1; with valid == false it
// writes zeros (src-size 0) so rows past the sequence end are zero, not garbage.
// Outside sm_80+ device code (nvcc's host pass, a host-side emulation of the
// kernels) a synchronous copy stands in, and commit/wait do nothing.
__device__ __forceinline__ void cp_async16(float* smem, const float* gmem, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem),
               "r"(src_bytes));
#else
  *reinterpret_cast<float4*>(smem) =
      valid ? *reinterpret_cast<const float4*>(gmem) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

// Starts copying rows [row0, row0 + ROWS) of one head's [seq_len, D] slice
// (row stride `ld` floats) into a [ROWS][D + kPad] shared tile; rows at or past
// seq_len become zeros. The caller commits and waits.
template <int ROWS, int D>
__device__ __forceinline__ void load_tile_async(float* tile, const float* head, std::int64_t ld,
                                                int row0, int seq_len) {
  constexpr int kChunksPerRow = D / 4;
  for (int c = threadIdx.x; c < ROWS * kChunksPerRow; c += kThreads) {
    const int r = c / kChunksPerRow;
    const int col = (c % kChunksPerRow) * 4;
    const bool valid = row0 + r < seq_len;
    const float* src = valid ? head + (row0 + r) * ld + col : head;
    cp_async16(tile + r * (D + kPad) + col, src, valid);
  }
}

// acc[i][k] += sum_d A[arow + 4i][d] * B[tx + 8k][d] for the column chunks
// k in [k_begin, k_end), A and B padded [*, D + kPad] tiles. The chunk range is
// warp-uniform; with kFull the whole range is taken and no check is emitted
// (the common interior tile).
template <int D, int RPT, int NC, bool kFull>
__device__ __forceinline__ void tile_dot(const float* A, const float* B, int arow, int tx,
                                         int k_begin, int k_end, float (&acc)[RPT][NC]) {
  constexpr int LD = D + kPad;
#pragma unroll 4
  for (int d = 0; d < D; d += 4) {
    float4 a[RPT];
#pragma unroll
    for (int i = 0; i < RPT; ++i)
      a[i] = *reinterpret_cast<const float4*>(A + (arow + 4 * i) * LD + d);
#pragma unroll
    for (int k = 0; k < NC; ++k) {
      if (kFull || (k >= k_begin && k < k_end)) {
        const float4 b = *reinterpret_cast<const float4*>(B + (tx + 8 * k) * LD + d);
#pragma unroll
        for (int i = 0; i < RPT; ++i) {
          acc[i][k] = fmaf(a[i].x, b.x, acc[i][k]);
          acc[i][k] = fmaf(a[i].y, b.y, acc[i][k]);
          acc[i][k] = fmaf(a[i].z, b.z, acc[i][k]);
          acc[i][k] = fmaf(a[i].w, b.w, acc[i][k]);
        }
      }
    }
  }
}

// acc[i][4c + e] += sum_j P[prow + 4i][j] * V[j][4tx + 32c + e] over the
// columns j in [j_begin, j_end) (multiples of 4, warp-uniform); P is a padded
// [*, LDP] tile, V a padded [*, D + kPad] tile.
template <int D, int RPT, int LDP>
__device__ __forceinline__ void tile_accumulate(const float* P, const float* V, int prow, int tx,
                                                int j_begin, int j_end, float (&acc)[RPT][D / 8]) {
  constexpr int LDV = D + kPad;
  constexpr int kChunks = D / 32;
#pragma unroll 2
  for (int j = j_begin; j < j_end; j += 4) {
    float4 p[RPT];
#pragma unroll
    for (int i = 0; i < RPT; ++i)
      p[i] = *reinterpret_cast<const float4*>(P + (prow + 4 * i) * LDP + j);
#pragma unroll
    for (int jj = 0; jj < 4; ++jj) {
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        const float4 v = *reinterpret_cast<const float4*>(V + (j + jj) * LDV + 4 * tx + 32 * c);
#pragma unroll
        for (int i = 0; i < RPT; ++i) {
          const float pij = jj == 0 ? p[i].x : jj == 1 ? p[i].y : jj == 2 ? p[i].z : p[i].w;
          acc[i][4 * c + 0] = fmaf(pij, v.x, acc[i][4 * c + 0]);
          acc[i][4 * c + 1] = fmaf(pij, v.y, acc[i][4 * c + 1]);
          acc[i][4 * c + 2] = fmaf(pij, v.z, acc[i][4 * c + 2]);
          acc[i][4 * c + 3] = fmaf(pij, v.w, acc[i][4 * c + 3]);
        }
      }
    }
  }
}

// Sum and max over the 8 lanes (tx) that share a row.
__device__ __forceinline__ float row_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  x += __shfl_xor_sync(0xffffffffu, x, 2);
  x += __shfl_xor_sync(0xffffffffu, x, 4);
  return x;
}
__device__ __forceinline__ float row_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 4));
  return x;
}

// Writes the RPT x D/8 register block of rows (row0 + 4i) to one head's
// [seq_len, D] slice, times `factor` per row; rows at or past seq_len are skipped.
template <int D, int RPT>
__device__ __forceinline__ void store_rows(float* head, std::int64_t ld, int row0, int seq_len,
                                           int tx, const float (&acc)[RPT][D / 8],
                                           const float (&factor)[RPT]) {
#pragma unroll
  for (int i = 0; i < RPT; ++i) {
    const int row = row0 + 4 * i;
    if (row >= seq_len) continue;
#pragma unroll
    for (int c = 0; c < D / 32; ++c) {
      const float4 value =
          make_float4(acc[i][4 * c] * factor[i], acc[i][4 * c + 1] * factor[i],
                      acc[i][4 * c + 2] * factor[i], acc[i][4 * c + 3] * factor[i]);
      *reinterpret_cast<float4*>(head + row * ld + 4 * tx + 32 * c) = value;
    }
  }
}

}  // namespace hybrec::kernels::cuda::attention_detail

// CUDA quantised matrix products: one block of kThreads per (output feature,
// row of x). Each thread walks whole 32-element blocks of the W row (so a
// block's scale is read once per thread), dequantising in registers; the
// block sum is reduced with warp shuffles and then across warps in a fixed
// order, so results are deterministic. Simple rather than fast: a first
// version to be measured once it has run on a GPU.
// Compiled, not yet run on a GPU.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/check.h"
#include "cuda/quant_matmul.h"

namespace hybrec::kernels::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;

__device__ float load_half(const uint8_t* p) {
  const uint16_t bits = static_cast<uint16_t>(p[0] | (p[1] << 8));
  return __half2float(__ushort_as_half(bits));
}

// Sum of the chunk `c` of the row: element c for F32/F16, block c (32
// elements) for Q8_0/Q4_1.
__device__ float chunk_dot(QuantType type, const uint8_t* w, const float* x, int64_t c) {
  switch (type) {
    case QuantType::kF32: {
      float v;
      memcpy(&v, w + 4 * c, sizeof(v));
      return v * x[c];
    }
    case QuantType::kF16:
      return load_half(w + 2 * c) * x[c];
    case QuantType::kQ8_0: {
      const uint8_t* blk = w + c * 34;
      const float* xb = x + c * 32;
      float acc = 0.0f;
      for (int j = 0; j < 32; ++j)
        acc += static_cast<float>(static_cast<int8_t>(blk[2 + j])) * xb[j];
      return load_half(blk) * acc;
    }
    case QuantType::kQ4_1: {
      const uint8_t* blk = w + c * 20;
      const float* xb = x + c * 32;
      float acc = 0.0f;
      float xs = 0.0f;
      for (int j = 0; j < 16; ++j) {
        const uint8_t q = blk[4 + j];
        acc += static_cast<float>(q & 0x0F) * xb[j] + static_cast<float>(q >> 4) * xb[j + 16];
        xs += xb[j] + xb[j + 16];
      }
      return load_half(blk) * acc + load_half(blk + 2) * xs;
    }
  }
  return 0.0f;
}

__global__ void quant_matmul_kernel(QuantMatmulParams p, int64_t row_bytes, int64_t chunks) {
  const int64_t o = blockIdx.x;
  const int64_t r = blockIdx.y;
  const auto* w = static_cast<const uint8_t*>(p.w) + o * row_bytes;
  const float* x = p.x + r * p.in;
  float s = 0.0f;
  for (int64_t c = threadIdx.x; c < chunks; c += kThreads) s += chunk_dot(p.w_type, w, x, c);
  for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_down_sync(0xffffffffu, s, offset);
  __shared__ float partial[kWarps];
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.0f;
    for (int i = 0; i < kWarps; ++i) total += partial[i];
    p.y[r * p.out + o] = total;
  }
}

}  // namespace

void quant_matmul(const QuantMatmulParams& p, void* stream) {
  const int64_t row_bytes = quant_row_bytes(p.w_type, p.in);
  const bool blocked = p.w_type == QuantType::kQ8_0 || p.w_type == QuantType::kQ4_1;
  const int64_t chunks = blocked ? p.in / 32 : p.in;
  HYBREC_CHECK(p.out <= 0x7fffffff && p.n <= 65535, "quant_matmul (CUDA): out = ", p.out,
               " must be <= 2^31-1 and n = ", p.n, " <= 65535 (grid limits)");
  const dim3 grid(static_cast<unsigned>(p.out), static_cast<unsigned>(p.n));
  HYBREC_LAUNCH(quant_matmul_kernel, grid, kThreads, 0, to_stream(stream), p, row_bytes, chunks);
}

}  // namespace hybrec::kernels::cuda

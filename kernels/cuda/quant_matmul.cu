// CUDA quantised matrix products: one block of kThreads per (output feature,
// row of x). Each thread walks whole 32-element blocks of the W row (so a
// block's scale is read once per thread); for Q8_0/Q4_1 it quantises the
// matching x block to int8 as the CPU does (every thread block redoes it)
// and sums the integer products. The block sum is reduced with warp
// shuffles and then across warps in a fixed order, so results are
// deterministic. Simple rather than fast: a first version to be measured
// once it has run on a GPU.
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

// The 32 activations of one block quantised as the contract says (the CPU's
// quantize_activations): q in [-127, 127], d and s rounded to fp16.
struct XBlock {
  int8_t q[32];
  float d, s;
};

__device__ XBlock quantize_block(const float* x) {
  XBlock b;
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = fmaxf(amax, fabsf(x[j]));
  const float d = amax / 127.0f;
  const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
  int sum = 0;
  for (int j = 0; j < 32; ++j) {
    const int q = __float2int_rn(__fmul_rn(x[j], id));  // ties to even
    b.q[j] = static_cast<int8_t>(q);
    sum += q;
  }
  b.d = __half2float(__float2half_rn(d));
  b.s = __half2float(__float2half_rn(__fmul_rn(d, static_cast<float>(sum))));
  return b;
}

// Sum of the chunk `c` of the row: element c for F32/F16, block c (32
// elements, against int8 activations) for Q8_0/Q4_1.
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
      const XBlock xb = quantize_block(x + c * 32);
      int dot = 0;
      for (int j = 0; j < 32; ++j) dot += static_cast<int8_t>(blk[2 + j]) * xb.q[j];
      return load_half(blk) * xb.d * static_cast<float>(dot);
    }
    case QuantType::kQ4_1: {
      const uint8_t* blk = w + c * 20;
      const XBlock xb = quantize_block(x + c * 32);
      int dot = 0;
      for (int j = 0; j < 16; ++j) {
        const uint8_t q = blk[4 + j];
        dot += (q & 0x0F) * xb.q[j] + (q >> 4) * xb.q[j + 16];
      }
      return load_half(blk) * xb.d * static_cast<float>(dot) + load_half(blk + 2) * xb.s;
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

// Check macros for CUDA and cuBLAS calls and for kernel launches. Each
// failure throws hybrec::Error naming the call, file and line.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "hybrec/kernels/error.h"

#define HYBREC_CUDA_CHECK(call)                                                       \
  do {                                                                                \
    cudaError_t hybrec_status_ = (call);                                              \
    if (hybrec_status_ != cudaSuccess) {                                              \
      HYBREC_THROW("CUDA error ", cudaGetErrorName(hybrec_status_), " (",             \
                   cudaGetErrorString(hybrec_status_), ") in ", #call);               \
    }                                                                                 \
  } while (0)

#define HYBREC_CUBLAS_CHECK(call)                                                          \
  do {                                                                                     \
    cublasStatus_t hybrec_status_ = (call);                                                \
    if (hybrec_status_ != CUBLAS_STATUS_SUCCESS) {                                         \
      HYBREC_THROW("cuBLAS error ", cublasGetStatusName(hybrec_status_), " in ", #call);   \
    }                                                                                      \
  } while (0)

// Every kernel launch goes through this: it reports configuration errors
// (bad grid, too much shared memory) at the launch site.
#define HYBREC_LAUNCH(kernel, grid, block, smem, stream, ...)     \
  do {                                                            \
    kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__);   \
    HYBREC_CUDA_CHECK(cudaGetLastError());                        \
  } while (0)

namespace hybrec::kernels::cuda {

inline cudaStream_t to_stream(void* stream) { return static_cast<cudaStream_t>(stream); }

// A cuBLAS handle for the calling thread, bound to `stream`. Handles are
// created once per thread and reused: creating one costs milliseconds.
cublasHandle_t cublas_handle(cudaStream_t stream);

// Number of blocks for `n` items at `per_block` items each, capped so huge
// sizes use grid-stride loops instead of overflowing gridDim.x.
inline unsigned grid_for(long long n, int per_block, unsigned cap = 65535u * 8) {
  long long blocks = (n + per_block - 1) / per_block;
  if (blocks < 1) blocks = 1;
  return static_cast<unsigned>(blocks < cap ? blocks : cap);
}

}  // namespace hybrec::kernels::cuda

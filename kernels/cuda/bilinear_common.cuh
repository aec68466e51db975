// Building blocks shared by the bilinear CUDA kernels: stream-ordered
// scratch memory and row-major GEMM through cuBLAS.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/check.h"

namespace hybrec::kernels::cuda::bilinear {

constexpr int kBlock = 256;
constexpr unsigned kFullMask = 0xffffffffu;

// Device scratch from cudaMallocAsync, released with cudaFreeAsync on the
// same stream, so it is recycled by the stream's memory pool without a sync.
template <typename T>
class StreamScratch {
 public:
  StreamScratch(int64_t count, cudaStream_t stream) : stream_(stream) {
    if (count > 0) {
      HYBREC_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&ptr_),
                                        static_cast<std::size_t>(count) * sizeof(T), stream));
    }
  }
  ~StreamScratch() {
    if (ptr_ != nullptr) cudaFreeAsync(ptr_, stream_);
  }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
  T* get() const { return ptr_; }

 private:
  cudaStream_t stream_;
  T* ptr_ = nullptr;
};

// C[m, n] = op(A) op(B) + beta * C with every matrix row-major (leading
// dimensions are row lengths). A row-major matrix is its own transpose in
// cuBLAS's column-major view, so this is C^T = op(B)^T op(A)^T: the operands
// swap and keep their ops. Full fp32 (no TF32) and host scalars are set on
// every call because the per-thread handle is shared with other ops.
inline void gemm_row_major(cudaStream_t stream, bool trans_a, bool trans_b, int64_t m, int64_t n,
                           int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                           float beta, float* c, int64_t ldc) {
  cublasHandle_t handle = cublas_handle(stream);
  HYBREC_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
  HYBREC_CUBLAS_CHECK(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_HOST));
  const float one = 1.0f;
  HYBREC_CUBLAS_CHECK(cublasSgemm(
      handle, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
      static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &one, b, static_cast<int>(ldb),
      a, static_cast<int>(lda), &beta, c, static_cast<int>(ldc)));
}

}  // namespace hybrec::kernels::cuda::bilinear

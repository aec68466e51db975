#include "cuda/check.h"
#include "cuda/runtime.h"

namespace hybrec::kernels::cuda {

int device_count() {
  int count = 0;
  // No driver or no GPU is not an error here: it means "no CUDA device".
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

void set_device(int index) { HYBREC_CUDA_CHECK(cudaSetDevice(index)); }

int64_t free_memory_bytes() {
  if (device_count() == 0) return 0;
  std::size_t free = 0, total = 0;
  HYBREC_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return static_cast<int64_t>(free);
}

void synchronize(void* stream) { HYBREC_CUDA_CHECK(cudaStreamSynchronize(to_stream(stream))); }

void* malloc_bytes(std::size_t bytes) {
  void* ptr = nullptr;
  HYBREC_CUDA_CHECK(cudaMalloc(&ptr, bytes));
  return ptr;
}

void free_bytes(void* ptr) noexcept { cudaFree(ptr); }

void copy(void* dst, const void* src, std::size_t bytes, void* stream) {
  HYBREC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, to_stream(stream)));
  HYBREC_CUDA_CHECK(cudaStreamSynchronize(to_stream(stream)));
}

void zero(void* ptr, std::size_t bytes, void* stream) {
  HYBREC_CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, to_stream(stream)));
}

cublasHandle_t cublas_handle(cudaStream_t stream) {
  struct Handle {
    cublasHandle_t handle = nullptr;
    ~Handle() {
      if (handle != nullptr) cublasDestroy(handle);
    }
  };
  thread_local Handle cached;
  if (cached.handle == nullptr) HYBREC_CUBLAS_CHECK(cublasCreate(&cached.handle));
  HYBREC_CUBLAS_CHECK(cublasSetStream(cached.handle, stream));
  return cached.handle;
}

}  // namespace hybrec::kernels::cuda

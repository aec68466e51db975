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

namespace {
bool is_pageable_host(const void* ptr) {
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, ptr) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return a.type == cudaMemoryTypeUnregistered;
}
}  // namespace

void copy(void* dst, const void* src, std::size_t bytes, void* stream) {
  HYBREC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, to_stream(stream)));
  // From pageable host memory to the device, cudaMemcpyAsync has consumed
  // the source when it returns (the driver stages it), and the device reads
  // the destination in stream order: no wait is needed, and a step's many
  // small index uploads then do not each wait for the GPU's queue. Every
  // other direction waits, so the host may read or reuse what it gave.
  if (!(is_pageable_host(src) && !is_pageable_host(dst))) {
    HYBREC_CUDA_CHECK(cudaStreamSynchronize(to_stream(stream)));
  }
}

void zero(void* ptr, std::size_t bytes, void* stream) {
  HYBREC_CUDA_CHECK(cudaMemsetAsync(ptr, 0, bytes, to_stream(stream)));
}

void* event_create() {
  cudaEvent_t event = nullptr;
  HYBREC_CUDA_CHECK(cudaEventCreate(&event));
  return event;
}

void event_destroy(void* event) noexcept { cudaEventDestroy(static_cast<cudaEvent_t>(event)); }

void event_record(void* event, void* stream) {
  HYBREC_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event), to_stream(stream)));
}

double event_elapsed_seconds(void* from, void* to) {
  HYBREC_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(to)));
  float ms = 0;
  HYBREC_CUDA_CHECK(
      cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(from), static_cast<cudaEvent_t>(to)));
  return static_cast<double>(ms) / 1000.0;
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

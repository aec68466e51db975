// Host-memory side of the device helpers; the CUDA side lives in
// cuda/device.cu and is reached only when the CUDA backend is compiled in.
#include "hybrec/kernels/device.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "cuda/runtime.h"

namespace hybrec::kernels {

const char* backend_name(Backend backend) {
  return backend == Backend::kCuda ? "cuda" : "cpu";
}

bool cuda_compiled() {
#ifdef HYBREC_WITH_CUDA
  return true;
#else
  return false;
#endif
}

#ifndef HYBREC_WITH_CUDA
namespace cuda {
[[noreturn]] static void not_compiled() {
  HYBREC_THROW("the CUDA backend was requested but this build has no CUDA (HYBREC_CUDA=OFF or no nvcc)");
}
int device_count() { return 0; }
int64_t free_memory_bytes() { return 0; }
void set_device(int) { not_compiled(); }
void synchronize(void*) { not_compiled(); }
void* malloc_bytes(std::size_t) { not_compiled(); }
void free_bytes(void*) noexcept {}
void copy(void*, const void*, std::size_t, void*) { not_compiled(); }
void zero(void*, std::size_t, void*) { not_compiled(); }
void* event_create() { not_compiled(); }
void event_destroy(void*) noexcept {}
void event_record(void*, void*) { not_compiled(); }
double event_elapsed_seconds(void*, void*) { not_compiled(); }
}  // namespace cuda
#endif

int cuda_device_count() { return cuda::device_count(); }

int64_t cuda_free_memory_bytes() { return cuda::free_memory_bytes(); }

void cuda_set_device(int index) {
  const int count = cuda::device_count();
  HYBREC_CHECK(cuda_compiled(), "cuda_set_device: this build has no CUDA backend");
  HYBREC_CHECK(index >= 0 && index < count, "cuda_set_device: device ", index, " of ", count,
               " visible CUDA devices");
  cuda::set_device(index);
}

namespace {
std::atomic<int64_t> g_buffer_bytes[2];
}  // namespace

int64_t buffer_bytes_in_use(Backend backend) {
  return g_buffer_bytes[backend == Backend::kCuda ? 1 : 0].load(std::memory_order_relaxed);
}

void detail::count_buffer_bytes(Backend backend, int64_t delta) noexcept {
  g_buffer_bytes[backend == Backend::kCuda ? 1 : 0].fetch_add(delta, std::memory_order_relaxed);
}

void synchronize(const Device& device) {
  if (device.is_cuda()) cuda::synchronize(device.stream);
}

void* device_malloc(const Device& device, std::size_t bytes) {
  if (device.is_cuda()) return cuda::malloc_bytes(bytes);
  // 64-byte alignment keeps rows cache-line aligned for the vectorised loops.
  void* ptr = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  HYBREC_CHECK(ptr != nullptr, "host allocation of ", bytes, " bytes failed");
  return ptr;
}

void device_free(const Device& device, void* ptr) noexcept {
  if (ptr == nullptr) return;
  if (device.is_cuda()) {
    cuda::free_bytes(ptr);
  } else {
    std::free(ptr);
  }
}

void copy_to_device(const Device& device, void* dst, const void* src, std::size_t bytes) {
  if (device.is_cuda()) {
    cuda::copy(dst, src, bytes, device.stream);
  } else {
    std::memcpy(dst, src, bytes);
  }
}

void copy_to_host(const Device& device, void* dst, const void* src, std::size_t bytes) {
  copy_to_device(device, dst, src, bytes);  // cudaMemcpyDefault infers the direction
}

void fill_zero(const Device& device, void* ptr, std::size_t bytes) {
  if (device.is_cuda()) {
    cuda::zero(ptr, bytes, device.stream);
  } else {
    std::memset(ptr, 0, bytes);
  }
}

}  // namespace hybrec::kernels

// Where a kernel runs, and the memory helpers that tests, benchmarks and the
// trainer use to move data there.
//
// Every op takes a `const Device&` first. For Backend::kCpu all pointers are
// host pointers and the op has finished when it returns. For Backend::kCuda
// all array pointers are device pointers, the op is enqueued on `stream`
// (nullptr = the legacy default stream) and may still be running when it
// returns, except where a header says the op synchronises (for example to
// report an out-of-range index when check_bounds is set).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::kernels {

enum class Backend { kCpu, kCuda };

const char* backend_name(Backend backend);

struct Device {
  Backend backend = Backend::kCpu;
  void* stream = nullptr;    // cudaStream_t when backend == kCuda
  bool check_bounds = true;  // validate indices; on CUDA this costs a synchronisation

  static Device cpu() { return Device{}; }
  static Device cuda(void* stream = nullptr) { return Device{Backend::kCuda, stream, true}; }
  bool is_cuda() const { return backend == Backend::kCuda; }
};

// True when this build contains the CUDA backend.
bool cuda_compiled();
// Number of usable CUDA devices: 0 when not compiled in, no driver or no GPU.
int cuda_device_count();
// Makes CUDA device `index` (among the visible ones) current for this
// thread's later CUDA calls; throws when CUDA is not compiled in or the index
// is out of range.
void cuda_set_device(int index);
// Free memory of the current CUDA device in bytes (cudaMemGetInfo); 0 when
// CUDA is not compiled in or there is no device.
int64_t cuda_free_memory_bytes();
// Waits until everything enqueued on the device's stream has finished.
void synchronize(const Device& device);

// Bytes held by the live Buffers of each backend, process-wide (the
// trainer's memory plan checks its estimate against it after a step).
int64_t buffer_bytes_in_use(Backend backend);
namespace detail {
void count_buffer_bytes(Backend backend, int64_t delta) noexcept;
}  // namespace detail

void* device_malloc(const Device& device, std::size_t bytes);
void device_free(const Device& device, void* ptr) noexcept;
// Both return once src may be reused. copy_to_host also waits until dst
// holds the bytes; copy_to_device from host memory on CUDA may return
// before they arrive (the device reads dst in its stream's order).
void copy_to_device(const Device& device, void* dst, const void* src, std::size_t bytes);
void copy_to_host(const Device& device, void* dst, const void* src, std::size_t bytes);
void fill_zero(const Device& device, void* ptr, std::size_t bytes);

// Owning array of T on a device (host memory for the CPU backend).
template <typename T>
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Device& device, std::size_t count) : device_(device), count_(count) {
    if (count_ > 0) {
      data_ = static_cast<T*>(device_malloc(device_, count_ * sizeof(T)));
      detail::count_buffer_bytes(device_.backend, bytes());
    }
  }
  Buffer(const Device& device, const std::vector<T>& host) : Buffer(device, host.size()) {
    upload(host);
  }
  ~Buffer() { release(); }
  Buffer(Buffer&& other) noexcept { *this = std::move(other); }
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      release();
      device_ = other.device_;
      data_ = other.data_;
      count_ = other.count_;
      other.data_ = nullptr;
      other.count_ = 0;
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return count_; }

  void upload(const std::vector<T>& host) {
    HYBREC_CHECK(host.size() == count_, "Buffer::upload: ", host.size(), " values into a buffer of ",
                 count_);
    if (count_ > 0) copy_to_device(device_, data_, host.data(), count_ * sizeof(T));
  }
  std::vector<T> download() const {
    std::vector<T> host(count_);
    if (count_ > 0) copy_to_host(device_, host.data(), data_, count_ * sizeof(T));
    return host;
  }
  void zero() {
    if (count_ > 0) fill_zero(device_, data_, count_ * sizeof(T));
  }

 private:
  int64_t bytes() const { return static_cast<int64_t>(count_ * sizeof(T)); }
  void release() noexcept {
    if (data_ == nullptr) return;
    detail::count_buffer_bytes(device_.backend, -bytes());
    device_free(device_, data_);
    data_ = nullptr;
  }

  Device device_;
  T* data_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace hybrec::kernels

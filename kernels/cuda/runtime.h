// The few CUDA runtime entry points the host-side device helpers need,
// implemented in cuda/device.cu (or by fallbacks in cpu/device.cc that throw when CUDA is off).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hybrec::kernels::cuda {
int device_count();
int64_t free_memory_bytes();  // of the current device; 0 without one
void set_device(int index);
void synchronize(void* stream);
void* malloc_bytes(std::size_t bytes);
void free_bytes(void* ptr) noexcept;
// Returns once the host may reuse src and read dst: at once for pageable
// host memory to the device (the device reads dst in stream order), else
// once the bytes have arrived.
void copy(void* dst, const void* src, std::size_t bytes, void* stream);
void zero(void* ptr, std::size_t bytes, void* stream);
// Timing events (cudaEvent_t as void*): recorded on a stream; the elapsed
// time between two waits for the second.
void* event_create();
void event_destroy(void* event) noexcept;
void event_record(void* event, void* stream);
double event_elapsed_seconds(void* from, void* to);
}  // namespace hybrec::kernels::cuda

// Shared by trainer/model and the training step (trainer/loop): device
// buffers grow to the largest batch seen and are never freed between steps,
// and index arrays built on the host reach the device with one copy each.
#pragma once

#include <cstdint>
#include <vector>

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/elementwise.h"

namespace hybrec::trainer {

// Grows *buffer to at least `count` elements on `device` (contents are not
// kept) and returns its data.
template <typename T>
T* grow(const kernels::Device& device, int64_t count, kernels::Buffer<T>* buffer) {
  if (static_cast<int64_t>(buffer->size()) < count) {
    *buffer = kernels::Buffer<T>(device, static_cast<std::size_t>(count));
  }
  return buffer->data();
}

// Copies host into the front of *buffer (grown to fit) and returns its data.
template <typename T>
T* upload(const kernels::Device& device, const std::vector<T>& host, kernels::Buffer<T>* buffer) {
  T* data = grow(device, static_cast<int64_t>(host.size()), buffer);
  if (!host.empty()) kernels::copy_to_device(device, data, host.data(), host.size() * sizeof(T));
  return data;
}

// A row scatter (kernels::RowScatter) whose CSR arrays live on the device.
struct DeviceScatter {
  int64_t dst_rows = 0;
  kernels::Buffer<int64_t> offsets, src_index;

  void upload(const kernels::Device& device, const kernels::HostRowScatter& host,
              int64_t dst_row_count) {
    dst_rows = dst_row_count;
    trainer::upload(device, host.offsets, &offsets);
    trainer::upload(device, host.src_index, &src_index);
  }
  kernels::RowScatter view() const { return {dst_rows, offsets.data(), src_index.data()}; }
};

// Widens int32 slots to the int64 indices the kernels take.
inline void widen(const std::vector<int32_t>& in, std::vector<int64_t>* out) {
  out->resize(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) (*out)[i] = in[i];
}

}  // namespace hybrec::trainer

// Packed little-endian payloads of the wire contract (keys as int64, rows
// and gradients as float32, in Thrift `binary` strings), read in place.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the wire format is little-endian and hybrec packs it with memcpy");

namespace hybrec::ps {

// The values of a payload string as an aligned array: the string's own buffer
// when it is suitably aligned (heap buffers are), else a copy in scratch.
template <typename T>
const T* view_as(const std::string& bytes, std::vector<T>* scratch) {
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(T) == 0) {
    return reinterpret_cast<const T*>(bytes.data());
  }
  scratch->resize(bytes.size() / sizeof(T));
  std::memcpy(scratch->data(), bytes.data(), scratch->size() * sizeof(T));
  return scratch->data();
}

}  // namespace hybrec::ps

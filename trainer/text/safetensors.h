// A read-only safetensors file (Hugging Face's weight format), mapped into
// memory: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and [begin, end) byte range in the data that
// follows. The constructor validates the whole header (sizes, dtypes, every
// range inside the file and matching its shape) so that a truncated or
// damaged file fails at load with the file and tensor named, never later.
// Tensors are read as float32 (F32 copied, F16 and BF16 widened).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hybrec::text {

class SafeTensors {
 public:
  struct Tensor {
    std::string dtype;           // "F32", "F16", "BF16", "I64", ...
    std::vector<int64_t> shape;  // empty = scalar
    uint64_t begin = 0;          // byte range within the data section
    uint64_t end = 0;
    int64_t numel() const;
  };

  explicit SafeTensors(const std::string& path);
  ~SafeTensors();
  SafeTensors(const SafeTensors&) = delete;
  SafeTensors& operator=(const SafeTensors&) = delete;

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws naming the file and the tensor when it is absent.
  const Tensor& tensor(const std::string& name) const;
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }

  // The tensor as float32. Throws when it is absent, not a float dtype, or
  // its shape is not `shape` (the message gives both).
  std::vector<float> read_f32(const std::string& name, const std::vector<int64_t>& shape) const;

 private:
  std::string path_;
  const uint8_t* map_ = nullptr;
  uint64_t map_bytes_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section
  std::map<std::string, Tensor> tensors_;
};

// "[30522, 384]" for messages.
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace hybrec::text

#include "trainer/text/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "hybrec/kernels/error.h"
#include "hybrec/kernels/quant.h"

namespace hybrec::text {

namespace {

// Bytes per element of the dtypes safetensors defines.
int dtype_bytes(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" ||
      dtype == "F8_E5M2") {
    return 1;
  }
  return 0;
}

float bfloat_to_float(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace

int64_t SafeTensors::Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

SafeTensors::SafeTensors(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  HYBREC_CHECK(fd >= 0, "safetensors file ", path, ": cannot open: ", std::strerror(errno));
  struct stat st = {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  map_bytes_ = stat_ok ? static_cast<uint64_t>(st.st_size) : 0;
  void* map = MAP_FAILED;
  if (stat_ok && map_bytes_ > 0) map = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  HYBREC_CHECK(stat_ok, "safetensors file ", path, ": cannot stat it");
  HYBREC_CHECK(map_bytes_ >= 8, "safetensors file ", path, ": ", map_bytes_,
               " bytes, too short for the 8-byte header length");
  HYBREC_CHECK(map != MAP_FAILED, "safetensors file ", path, ": mmap failed: ", std::strerror(errno));
  map_ = static_cast<const uint8_t*>(map);

  try {
    uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | map_[i];
    HYBREC_CHECK(header_bytes <= map_bytes_ - 8, "safetensors file ", path, ": header of ",
                 header_bytes, " bytes runs past the end of the file (", map_bytes_, " bytes)");
    data_ = map_ + 8 + header_bytes;
    const uint64_t data_bytes = map_bytes_ - 8 - header_bytes;
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(reinterpret_cast<const char*>(map_ + 8),
                                     reinterpret_cast<const char*>(data_));
    } catch (const nlohmann::json::exception& e) {
      HYBREC_THROW("safetensors file ", path, ": the header is not valid JSON: ", e.what());
    }
    HYBREC_CHECK(header.is_object(), "safetensors file ", path, ": the header is not an object");
    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__") continue;
      const std::string where = "safetensors file " + path + ": tensor '" + name + "'";
      HYBREC_CHECK(entry.is_object() && entry.contains("dtype") && entry.contains("shape") &&
                       entry.contains("data_offsets"),
                   where, ": needs dtype, shape and data_offsets");
      Tensor t;
      HYBREC_CHECK(entry["dtype"].is_string(), where, ": dtype is not a string");
      t.dtype = entry["dtype"].get<std::string>();
      const int elem = dtype_bytes(t.dtype);
      HYBREC_CHECK(elem > 0, where, ": unknown dtype '", t.dtype, "'");
      HYBREC_CHECK(entry["shape"].is_array(), where, ": shape is not an array");
      for (const auto& d : entry["shape"]) {
        HYBREC_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0, where,
                     ": shape has a non-integer or negative dimension");
        t.shape.push_back(d.get<int64_t>());
      }
      const auto& offsets = entry["data_offsets"];
      HYBREC_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
                       offsets[1].is_number_unsigned(),
                   where, ": data_offsets is not [begin, end]");
      t.begin = offsets[0].get<uint64_t>();
      t.end = offsets[1].get<uint64_t>();
      HYBREC_CHECK(t.begin <= t.end && t.end <= data_bytes, where, ": bytes [", t.begin, ", ",
                   t.end, ") lie outside the data section (", data_bytes,
                   " bytes; is the file truncated?)");
      const uint64_t expected = static_cast<uint64_t>(t.numel()) * static_cast<uint64_t>(elem);
      HYBREC_CHECK(t.end - t.begin == expected, where, ": ", t.end - t.begin, " bytes for ",
                   t.dtype, " ", shape_string(t.shape), ", which needs ", expected);
      tensors_.emplace(name, std::move(t));
    }
  } catch (...) {
    ::munmap(const_cast<uint8_t*>(map_), map_bytes_);
    throw;
  }
}

SafeTensors::~SafeTensors() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), map_bytes_);
}

const SafeTensors::Tensor& SafeTensors::tensor(const std::string& name) const {
  const auto it = tensors_.find(name);
  HYBREC_CHECK(it != tensors_.end(), "safetensors file ", path_, ": no tensor '", name, "'");
  return it->second;
}

std::vector<float> SafeTensors::read_f32(const std::string& name,
                                         const std::vector<int64_t>& shape) const {
  const Tensor& t = tensor(name);
  HYBREC_CHECK(t.shape == shape, "safetensors file ", path_, ": tensor '", name, "' has shape ",
               shape_string(t.shape), ", expected ", shape_string(shape));
  const std::size_t n = static_cast<std::size_t>(t.numel());
  std::vector<float> out(n);
  const uint8_t* src = data_ + t.begin;
  if (t.dtype == "F32") {
    std::memcpy(out.data(), src, n * sizeof(float));  // little-endian host, as the format
  } else if (t.dtype == "F16" || t.dtype == "BF16") {
    const bool half = t.dtype == "F16";
    for (std::size_t i = 0; i < n; ++i) {
      uint16_t v;
      std::memcpy(&v, src + 2 * i, sizeof v);
      out[i] = half ? kernels::half_to_float(v) : bfloat_to_float(v);
    }
  } else {
    HYBREC_THROW("safetensors file ", path_, ": tensor '", name, "' is ", t.dtype,
                 ", not a float dtype (F32, F16 or BF16)");
  }
  return out;
}

}  // namespace hybrec::text

// A read-only GGUF file (ggml's model format, the one llama.cpp runs),
// mapped into memory. Layout (little-endian, GGUF v2 and v3; v1 and
// big-endian files are rejected):
//   "GGUF", uint32 version, uint64 tensor count, uint64 metadata count,
//   metadata: (string key, uint32 value type, value) per entry,
//   tensor infos: (string name, uint32 n_dims, uint64 ne[n_dims],
//                  uint32 ggml type, uint64 offset) per tensor,
//   padding to `general.alignment` (default 32), then the data section;
//   each tensor's offset is relative to the data section and aligned.
// A string is a uint64 byte length and that many bytes (no terminator).
//
// The constructor validates the whole file before returning: the magic and
// version, every count and string length against the bytes that remain (a
// truncated or damaged file fails with the file, the entry and the byte
// offset named, never reads out of bounds), duplicate keys and tensor
// names, the alignment, every tensor's type, shape and aligned byte range
// inside the file. Afterwards accessors only fail on what the caller asks
// (a missing key, a wrong type, a wrong shape), again naming the file.
//
// Shapes. ggml lists dimensions fastest-varying first (ne[0] is the length
// of a row); Tensor::ne keeps that order. Tensor::shape() and read_f32 use
// the row-major order of PyTorch and safetensors, outermost first: the
// embedding ne = [576, 49152] has shape [49152, 576] (49152 rows of 576).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hybrec::text {

// GGUF metadata value types (the ids are the file's).
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
// "uint32", "string", "array", ...; "type id 99" for an unknown id.
std::string gguf_value_type_name(GgufValueType type);

// ggml tensor types (ids as in ggml.h). The reader knows the block sizes of
// those listed and dequantises F32, F16, Q8_0 and Q4_1; a file holding the
// others loads, but reading such a tensor throws naming its type. A type
// id not listed here fails at load.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};
// "Q4_1", ...; "type id 99" for an id not listed above.
std::string ggml_type_name(GgmlType type);
// Elements per block and bytes per block (1 and the element size for the
// plain types); {0, 0} for an id not listed above.
struct GgmlBlock {
  int64_t elems = 0;
  int64_t bytes = 0;
};
GgmlBlock ggml_block(GgmlType type);

// One metadata value. Integers are kept in `u` (unsigned types) or `i`
// (signed types and bool), floats in `f`, strings in `s`; an array keeps its
// element type and elements (which may themselves be arrays).
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0.0;
  std::string s;
  GgufValueType item_type = GgufValueType::kUint8;  // arrays only
  std::vector<GgufValue> items;                     // arrays only
};

class GgufFile {
 public:
  struct Tensor {
    std::string name;
    GgmlType type = GgmlType::kF32;
    std::vector<int64_t> ne;        // ggml order: ne[0] fastest-varying
    uint64_t offset = 0;            // within the data section
    uint64_t bytes = 0;             // size for its type and shape
    const uint8_t* data = nullptr;  // in the mapping, valid while the file lives
    int64_t numel() const;
    std::vector<int64_t> shape() const;  // row-major: ne reversed
  };

  explicit GgufFile(const std::string& path);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // file offset of the data section

  // Metadata. The getters throw naming the file and the key when the key is
  // absent or its value has another type (the message gives both types).
  // get_u32/get_u64/get_i64 accept any integer type whose value fits;
  // get_f32 accepts float32 and float64.
  bool has(const std::string& key) const { return metadata_.count(key) != 0; }
  const GgufValue& value(const std::string& key) const;
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  std::string get_string(const std::string& key) const;
  uint32_t get_u32(const std::string& key) const;
  uint64_t get_u64(const std::string& key) const;
  int64_t get_i64(const std::string& key) const;
  float get_f32(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  // Arrays of exactly that element type (string, float32, int32).
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<float> get_f32_array(const std::string& key) const;
  std::vector<int32_t> get_i32_array(const std::string& key) const;
  // general.architecture ("llama", ...).
  std::string architecture() const { return get_string("general.architecture"); }

  // Tensors, in file order.
  const std::vector<Tensor>& tensors() const { return tensors_; }
  bool has_tensor(const std::string& name) const { return index_.count(name) != 0; }
  // Throws naming the file and the tensor when it is absent.
  const Tensor& tensor(const std::string& name) const;

  // The whole tensor dequantised to float32, in row-major `shape` order
  // (outermost first, see above). Throws when it is absent, its shape is
  // not `shape` (the message gives both) or its type is not one of F32,
  // F16, Q8_0 and Q4_1.
  std::vector<float> read_f32(const std::string& name, const std::vector<int64_t>& shape) const;

 private:
  std::string path_;
  const uint8_t* map_ = nullptr;
  uint64_t map_bytes_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<Tensor> tensors_;
  std::map<std::string, std::size_t> index_;
};

}  // namespace hybrec::text

#include "trainer/text/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "hybrec/kernels/error.h"
#include "hybrec/kernels/quant.h"
#include "trainer/text/safetensors.h"  // shape_string

namespace hybrec::text {

namespace {

constexpr uint32_t kMaxDims = 4;             // GGML_MAX_DIMS
constexpr int kMaxArrayNesting = 8;          // arrays of arrays of ...: bounds the recursion
constexpr uint64_t kHeaderBytes = 24;        // magic, version, two uint64 counts
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;  // empty key, type, uint8
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // empty name, n_dims 0, type, offset

// Bounds-checked little-endian reads over the mapping; every failure names
// the file, what was being read and where.
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* data, uint64_t size)
      : path_(path), data_(data), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }

  void need(uint64_t n, const std::string& what) const {
    HYBREC_CHECK(n <= left(), "GGUF file ", path_, ": truncated: ", what, " needs ", n,
                 " bytes at byte ", pos_, " but the file ends at ", size_);
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof v);  // little-endian host, as the format
    pos_ += sizeof v;
    return v;
  }
  std::string read_string(const std::string& what) {
    const uint64_t n = read<uint64_t>(what + " (length)");
    need(n, what + " (" + std::to_string(n) + "-byte string)");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  const std::string& path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

// Smallest encoding of a value of `type` in bytes; 0 for an unknown type.
uint64_t min_value_bytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
    case GgufValueType::kString:
      return 8;
    case GgufValueType::kArray:
      return 4 + 8;
  }
  return 0;
}

bool is_unsigned(GgufValueType t) {
  return t == GgufValueType::kUint8 || t == GgufValueType::kUint16 || t == GgufValueType::kUint32 ||
         t == GgufValueType::kUint64;
}
bool is_signed(GgufValueType t) {
  return t == GgufValueType::kInt8 || t == GgufValueType::kInt16 || t == GgufValueType::kInt32 ||
         t == GgufValueType::kInt64;
}

GgufValue read_value(Cursor& in, GgufValueType type, const std::string& what,
                     const std::string& path, int depth) {
  GgufValue v;
  v.type = type;
  switch (type) {
    case GgufValueType::kUint8:
      v.u = in.read<uint8_t>(what);
      break;
    case GgufValueType::kUint16:
      v.u = in.read<uint16_t>(what);
      break;
    case GgufValueType::kUint32:
      v.u = in.read<uint32_t>(what);
      break;
    case GgufValueType::kUint64:
      v.u = in.read<uint64_t>(what);
      break;
    case GgufValueType::kInt8:
      v.i = in.read<int8_t>(what);
      break;
    case GgufValueType::kInt16:
      v.i = in.read<int16_t>(what);
      break;
    case GgufValueType::kInt32:
      v.i = in.read<int32_t>(what);
      break;
    case GgufValueType::kInt64:
      v.i = in.read<int64_t>(what);
      break;
    case GgufValueType::kFloat32:
      v.f = in.read<float>(what);
      break;
    case GgufValueType::kFloat64:
      v.f = in.read<double>(what);
      break;
    case GgufValueType::kBool: {
      const uint8_t b = in.read<uint8_t>(what);
      HYBREC_CHECK(b <= 1, "GGUF file ", path, ": ", what, ": bool byte ", int{b},
                   " is neither 0 nor 1");
      v.i = b;
      break;
    }
    case GgufValueType::kString:
      v.s = in.read_string(what);
      break;
    case GgufValueType::kArray: {
      HYBREC_CHECK(depth < kMaxArrayNesting, "GGUF file ", path, ": ", what,
                   ": arrays nested deeper than ", kMaxArrayNesting);
      v.item_type = static_cast<GgufValueType>(in.read<uint32_t>(what + " (array type)"));
      const uint64_t item_bytes = min_value_bytes(v.item_type);
      HYBREC_CHECK(item_bytes > 0, "GGUF file ", path, ": ", what, ": unknown array element ",
                   gguf_value_type_name(v.item_type));
      const uint64_t n = in.read<uint64_t>(what + " (array length)");
      // Checked before reserving: a damaged length must not allocate.
      HYBREC_CHECK(n <= in.left() / item_bytes, "GGUF file ", path, ": truncated: ", what,
                   ": an array of ", n, " ", gguf_value_type_name(v.item_type), " needs at least ",
                   n, " x ", item_bytes, " bytes at byte ", in.pos(), " but only ", in.left(),
                   " remain");
      v.items.reserve(n);
      for (uint64_t k = 0; k < n; ++k) {
        v.items.push_back(
            read_value(in, v.item_type, what + "[" + std::to_string(k) + "]", path, depth + 1));
      }
      break;
    }
    default:
      HYBREC_THROW("GGUF file ", path, ": ", what, ": unknown value ", gguf_value_type_name(type));
  }
  return v;
}

// a * b, or false when it overflows uint64.
bool mul_ok(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

}  // namespace

std::string gguf_value_type_name(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
      return "uint8";
    case GgufValueType::kInt8:
      return "int8";
    case GgufValueType::kUint16:
      return "uint16";
    case GgufValueType::kInt16:
      return "int16";
    case GgufValueType::kUint32:
      return "uint32";
    case GgufValueType::kInt32:
      return "int32";
    case GgufValueType::kFloat32:
      return "float32";
    case GgufValueType::kBool:
      return "bool";
    case GgufValueType::kString:
      return "string";
    case GgufValueType::kArray:
      return "array";
    case GgufValueType::kUint64:
      return "uint64";
    case GgufValueType::kInt64:
      return "int64";
    case GgufValueType::kFloat64:
      return "float64";
  }
  return "type id " + std::to_string(static_cast<uint32_t>(type));
}

std::string ggml_type_name(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return "F32";
    case GgmlType::kF16:
      return "F16";
    case GgmlType::kQ4_0:
      return "Q4_0";
    case GgmlType::kQ4_1:
      return "Q4_1";
    case GgmlType::kQ5_0:
      return "Q5_0";
    case GgmlType::kQ5_1:
      return "Q5_1";
    case GgmlType::kQ8_0:
      return "Q8_0";
    case GgmlType::kQ8_1:
      return "Q8_1";
    case GgmlType::kQ2_K:
      return "Q2_K";
    case GgmlType::kQ3_K:
      return "Q3_K";
    case GgmlType::kQ4_K:
      return "Q4_K";
    case GgmlType::kQ5_K:
      return "Q5_K";
    case GgmlType::kQ6_K:
      return "Q6_K";
    case GgmlType::kQ8_K:
      return "Q8_K";
    case GgmlType::kI8:
      return "I8";
    case GgmlType::kI16:
      return "I16";
    case GgmlType::kI32:
      return "I32";
    case GgmlType::kI64:
      return "I64";
    case GgmlType::kF64:
      return "F64";
    case GgmlType::kBF16:
      return "BF16";
  }
  return "type id " + std::to_string(static_cast<uint32_t>(type));
}

GgmlBlock ggml_block(GgmlType type) {
  // Block sizes as ggml-common.h lays the blocks out (fp16 scales, packed).
  switch (type) {
    case GgmlType::kF32:
      return {1, 4};
    case GgmlType::kF16:
      return {1, 2};
    case GgmlType::kQ4_0:
      return {32, 2 + 16};
    case GgmlType::kQ4_1:
      return {kernels::kQ4_1BlockElems, kernels::kQ4_1BlockBytes};
    case GgmlType::kQ5_0:
      return {32, 2 + 4 + 16};
    case GgmlType::kQ5_1:
      return {32, 2 + 2 + 4 + 16};
    case GgmlType::kQ8_0:
      return {kernels::kQ8_0BlockElems, kernels::kQ8_0BlockBytes};
    case GgmlType::kQ8_1:
      return {32, 2 + 2 + 32};
    case GgmlType::kQ2_K:
      return {256, 2 + 2 + 16 + 64};
    case GgmlType::kQ3_K:
      return {256, 32 + 64 + 12 + 2};
    case GgmlType::kQ4_K:
      return {256, 2 + 2 + 12 + 128};
    case GgmlType::kQ5_K:
      return {256, 2 + 2 + 12 + 32 + 128};
    case GgmlType::kQ6_K:
      return {256, 128 + 64 + 16 + 2};
    case GgmlType::kQ8_K:
      return {256, 4 + 256 + 32};
    case GgmlType::kI8:
      return {1, 1};
    case GgmlType::kI16:
      return {1, 2};
    case GgmlType::kI32:
      return {1, 4};
    case GgmlType::kI64:
      return {1, 8};
    case GgmlType::kF64:
      return {1, 8};
    case GgmlType::kBF16:
      return {1, 2};
  }
  return {0, 0};
}

int64_t GgufFile::Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

std::vector<int64_t> GgufFile::Tensor::shape() const { return {ne.rbegin(), ne.rend()}; }

GgufFile::GgufFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  HYBREC_CHECK(fd >= 0, "GGUF file ", path, ": cannot open: ", std::strerror(errno));
  struct stat st = {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  map_bytes_ = stat_ok ? static_cast<uint64_t>(st.st_size) : 0;
  void* map = MAP_FAILED;
  if (stat_ok && map_bytes_ >= kHeaderBytes) {
    map = ::mmap(nullptr, map_bytes_, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  ::close(fd);
  HYBREC_CHECK(stat_ok, "GGUF file ", path, ": cannot stat it");
  HYBREC_CHECK(map_bytes_ >= kHeaderBytes, "GGUF file ", path, ": truncated: ", map_bytes_,
               " bytes, too short for the ", kHeaderBytes, "-byte header");
  HYBREC_CHECK(map != MAP_FAILED, "GGUF file ", path, ": mmap failed: ", std::strerror(errno));
  map_ = static_cast<const uint8_t*>(map);

  try {
    Cursor in(path_, map_, map_bytes_);
    in.need(4, "the magic");
    HYBREC_CHECK(std::memcmp(map_, "GGUF", 4) == 0, "GGUF file ", path_,
                 ": bad magic (the first 4 bytes are not \"GGUF\"): not a GGUF file");
    in.read<uint32_t>("the magic");
    version_ = in.read<uint32_t>("the version");
    HYBREC_CHECK(version_ == 2 || version_ == 3, "GGUF file ", path_, ": unsupported version ",
                 version_, " (hybrec reads GGUF v2 and v3, little-endian",
                 version_ > 0xffff ? "; this looks like a big-endian file)" : ")");
    const auto n_tensors = in.read<uint64_t>("the tensor count");
    const auto n_kv = in.read<uint64_t>("the metadata count");
    HYBREC_CHECK(n_kv <= in.left() / kMinKvBytes, "GGUF file ", path_, ": truncated: ", n_kv,
                 " metadata entries cannot fit in the ", in.left(), " bytes after the header");
    HYBREC_CHECK(n_tensors <= in.left() / kMinTensorInfoBytes, "GGUF file ", path_,
                 ": truncated: ", n_tensors, " tensor infos cannot fit in the ", in.left(),
                 " bytes after the header");

    for (uint64_t k = 0; k < n_kv; ++k) {
      const std::string entry = "metadata entry " + std::to_string(k);
      std::string key = in.read_string(entry + " key");
      const std::string what = "metadata '" + key + "'";
      const auto type = static_cast<GgufValueType>(in.read<uint32_t>(what + " (value type)"));
      HYBREC_CHECK(min_value_bytes(type) > 0, "GGUF file ", path_, ": ", what, ": unknown value ",
                   gguf_value_type_name(type));
      GgufValue value = read_value(in, type, what, path_, 0);
      HYBREC_CHECK(metadata_.count(key) == 0, "GGUF file ", path_, ": duplicate metadata key '",
                   key, "'");
      metadata_.emplace(std::move(key), std::move(value));
    }

    if (has("general.alignment")) {
      const GgufValue& a = value("general.alignment");
      HYBREC_CHECK(a.type == GgufValueType::kUint32, "GGUF file ", path_, ": general.alignment is ",
                   gguf_value_type_name(a.type), ", expected uint32");
      alignment_ = a.u;
      HYBREC_CHECK(alignment_ > 0 && (alignment_ & (alignment_ - 1)) == 0, "GGUF file ", path_,
                   ": general.alignment ", alignment_, " is not a power of two");
    }

    tensors_.reserve(n_tensors);
    for (uint64_t k = 0; k < n_tensors; ++k) {
      Tensor t;
      t.name = in.read_string("tensor info " + std::to_string(k) + " name");
      const std::string what = "tensor '" + t.name + "'";
      const auto n_dims = in.read<uint32_t>(what + " n_dims");
      HYBREC_CHECK(n_dims <= kMaxDims, "GGUF file ", path_, ": ", what, ": ", n_dims,
                   " dimensions, more than ggml's ", kMaxDims);
      uint64_t numel = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        const auto dim = in.read<uint64_t>(what + " ne[" + std::to_string(d) + "]");
        HYBREC_CHECK(dim <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
                         mul_ok(numel, dim, &numel),
                     "GGUF file ", path_, ": ", what, ": dimension ne[", d, "] = ", dim,
                     " overflows the element count");
        t.ne.push_back(static_cast<int64_t>(dim));
      }
      HYBREC_CHECK(numel <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                   "GGUF file ", path_, ": ", what, ": ", numel, " elements overflow int64");
      t.type = static_cast<GgmlType>(in.read<uint32_t>(what + " type"));
      const GgmlBlock block = ggml_block(t.type);
      HYBREC_CHECK(block.elems > 0, "GGUF file ", path_, ": ", what, ": unknown ggml tensor ",
                   ggml_type_name(t.type));
      const uint64_t row = t.ne.empty() ? 1 : static_cast<uint64_t>(t.ne[0]);
      HYBREC_CHECK(row % static_cast<uint64_t>(block.elems) == 0, "GGUF file ", path_, ": ", what,
                   ": ", ggml_type_name(t.type), " rows of ne[0] = ", row,
                   " elements are not whole blocks of ", block.elems);
      HYBREC_CHECK(mul_ok(numel / static_cast<uint64_t>(block.elems),
                          static_cast<uint64_t>(block.bytes), &t.bytes),
                   "GGUF file ", path_, ": ", what, ": its byte size overflows");
      t.offset = in.read<uint64_t>(what + " offset");
      HYBREC_CHECK(index_.count(t.name) == 0, "GGUF file ", path_, ": duplicate tensor name '",
                   t.name, "'");
      index_.emplace(t.name, tensors_.size());
      tensors_.push_back(std::move(t));
    }

    // The data section starts at the next multiple of the alignment.
    const uint64_t end_of_infos = in.pos();
    data_offset_ = end_of_infos + (alignment_ - end_of_infos % alignment_) % alignment_;
    for (Tensor& t : tensors_) {
      const std::string what = "tensor '" + t.name + "'";
      HYBREC_CHECK(t.offset % alignment_ == 0, "GGUF file ", path_, ": ", what, ": offset ",
                   t.offset, " is not a multiple of the alignment ", alignment_);
      uint64_t begin = 0;
      uint64_t end = 0;
      const bool fits = !__builtin_add_overflow(data_offset_, t.offset, &begin) &&
                        !__builtin_add_overflow(begin, t.bytes, &end) && end <= map_bytes_;
      HYBREC_CHECK(fits, "GGUF file ", path_, ": ", what, ": data [", begin, ", ", end,
                   ") runs past the end of the file (", map_bytes_,
                   " bytes; is the file truncated?)");
      t.data = map_ + begin;
    }
  } catch (...) {
    ::munmap(const_cast<uint8_t*>(map_), map_bytes_);
    throw;
  }
}

GgufFile::~GgufFile() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), map_bytes_);
}

const GgufValue& GgufFile::value(const std::string& key) const {
  const auto it = metadata_.find(key);
  HYBREC_CHECK(it != metadata_.end(), "GGUF file ", path_, ": no metadata key '", key, "'");
  return it->second;
}

namespace {

[[noreturn]] void wrong_type(const std::string& path, const std::string& key, const GgufValue& v,
                             const std::string& expected) {
  std::string got = gguf_value_type_name(v.type);
  if (v.type == GgufValueType::kArray) got += " of " + gguf_value_type_name(v.item_type);
  HYBREC_THROW("GGUF file ", path, ": metadata '", key, "' is ", got, ", expected ", expected);
}

}  // namespace

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = value(key);
  if (v.type != GgufValueType::kString) wrong_type(path_, key, v, "string");
  return v.s;
}

uint64_t GgufFile::get_u64(const std::string& key) const {
  const GgufValue& v = value(key);
  if (is_unsigned(v.type)) return v.u;
  if (is_signed(v.type)) {
    HYBREC_CHECK(v.i >= 0, "GGUF file ", path_, ": metadata '", key, "' = ", v.i,
                 " is negative, expected an unsigned integer");
    return static_cast<uint64_t>(v.i);
  }
  wrong_type(path_, key, v, "an integer");
}

uint32_t GgufFile::get_u32(const std::string& key) const {
  const uint64_t u = get_u64(key);
  HYBREC_CHECK(u <= std::numeric_limits<uint32_t>::max(), "GGUF file ", path_, ": metadata '", key,
               "' = ", u, " does not fit uint32");
  return static_cast<uint32_t>(u);
}

int64_t GgufFile::get_i64(const std::string& key) const {
  const GgufValue& v = value(key);
  if (is_signed(v.type)) return v.i;
  if (is_unsigned(v.type)) {
    HYBREC_CHECK(v.u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), "GGUF file ",
                 path_, ": metadata '", key, "' = ", v.u, " does not fit int64");
    return static_cast<int64_t>(v.u);
  }
  wrong_type(path_, key, v, "an integer");
}

float GgufFile::get_f32(const std::string& key) const {
  const GgufValue& v = value(key);
  if (v.type != GgufValueType::kFloat32 && v.type != GgufValueType::kFloat64) {
    wrong_type(path_, key, v, "float32");
  }
  return static_cast<float>(v.f);
}

bool GgufFile::get_bool(const std::string& key) const {
  const GgufValue& v = value(key);
  if (v.type != GgufValueType::kBool) wrong_type(path_, key, v, "bool");
  return v.i != 0;
}

std::vector<std::string> GgufFile::get_string_array(const std::string& key) const {
  const GgufValue& v = value(key);
  if (v.type != GgufValueType::kArray || v.item_type != GgufValueType::kString) {
    wrong_type(path_, key, v, "array of string");
  }
  std::vector<std::string> out;
  out.reserve(v.items.size());
  for (const GgufValue& item : v.items) out.push_back(item.s);
  return out;
}

std::vector<float> GgufFile::get_f32_array(const std::string& key) const {
  const GgufValue& v = value(key);
  if (v.type != GgufValueType::kArray || v.item_type != GgufValueType::kFloat32) {
    wrong_type(path_, key, v, "array of float32");
  }
  std::vector<float> out;
  out.reserve(v.items.size());
  for (const GgufValue& item : v.items) out.push_back(static_cast<float>(item.f));
  return out;
}

std::vector<int32_t> GgufFile::get_i32_array(const std::string& key) const {
  const GgufValue& v = value(key);
  if (v.type != GgufValueType::kArray || v.item_type != GgufValueType::kInt32) {
    wrong_type(path_, key, v, "array of int32");
  }
  std::vector<int32_t> out;
  out.reserve(v.items.size());
  for (const GgufValue& item : v.items) out.push_back(static_cast<int32_t>(item.i));
  return out;
}

const GgufFile::Tensor& GgufFile::tensor(const std::string& name) const {
  const auto it = index_.find(name);
  HYBREC_CHECK(it != index_.end(), "GGUF file ", path_, ": no tensor '", name, "'");
  return tensors_[it->second];
}

std::vector<float> GgufFile::read_f32(const std::string& name,
                                      const std::vector<int64_t>& shape) const {
  const Tensor& t = tensor(name);
  HYBREC_CHECK(t.shape() == shape, "GGUF file ", path_, ": tensor '", name, "' has shape ",
               shape_string(t.shape()), " (ggml ne ", shape_string(t.ne), "), expected ",
               shape_string(shape));
  const int64_t n = t.numel();
  std::vector<float> out(static_cast<std::size_t>(n));
  switch (t.type) {
    case GgmlType::kF32:
      std::memcpy(out.data(), t.data, t.bytes);
      break;
    case GgmlType::kF16:
      kernels::dequantize_row_f16(t.data, n, out.data());
      break;
    case GgmlType::kQ8_0:
      kernels::dequantize_row_q8_0(t.data, n, out.data());
      break;
    case GgmlType::kQ4_1:
      kernels::dequantize_row_q4_1(t.data, n, out.data());
      break;
    default:
      HYBREC_THROW("GGUF file ", path_, ": tensor '", name, "' is ", ggml_type_name(t.type),
                   ", which hybrec cannot dequantise (it reads F32, F16, Q8_0 and Q4_1)");
  }
  return out;
}

}  // namespace hybrec::text

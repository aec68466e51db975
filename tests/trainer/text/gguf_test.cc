// The GGUF reader on files the test writes byte by byte: metadata of every
// value type read back, F32/F16/Q8_0/Q4_1 tensors dequantised to exactly
// what an independent decoder written here gives, and every kind of damaged
// file rejected at load (or at the read) with the problem named.
#include "trainer/text/gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>

#include "hybrec/kernels/error.h"
#include "hybrec/kernels/quant.h"
#include "testing/gguf_bytes.h"
#include "testing/temp_dir.h"

namespace hybrec::text {
namespace {

using hybrec::testing::put;
using hybrec::testing::put_string;
using hybrec::testing::error_of;

// ---- A tiny GGUF writer -----------------------------------------------------


// One metadata entry: key, value type id and the encoded value.
struct Kv {
  std::string key;
  uint32_t type;
  std::string value;
};
template <typename T>
Kv kv(const std::string& key, uint32_t type, T v) {
  std::string b;
  put<T>(b, v);
  return {key, type, b};
}
Kv kv_string(const std::string& key, const std::string& s) {
  std::string b;
  put_string(b, s);
  return {key, 8, b};
}
// An array of element type `type` whose elements are already encoded.
Kv kv_array(const std::string& key, uint32_t type, uint64_t n, const std::string& items) {
  std::string b;
  put<uint32_t>(b, type);
  put<uint64_t>(b, n);
  return {key, 9, b + items};
}
Kv kv_strings(const std::string& key, const std::vector<std::string>& v) {
  std::string items;
  for (const auto& s : v) put_string(items, s);
  return kv_array(key, 8, v.size(), items);
}

struct RawTensor {
  std::string name;
  uint32_t type;
  std::vector<uint64_t> ne;
  std::string bytes;
};

// Byte positions in a written file, for truncating it at chosen places.
struct Layout {
  std::size_t end_of_header = 0;    // after the 24-byte header
  std::size_t end_of_metadata = 0;  // after the last metadata entry
  std::size_t end_of_infos = 0;     // after the last tensor info
  std::size_t data_start = 0;
};

std::string build_gguf(const std::vector<Kv>& kvs, const std::vector<RawTensor>& tensors,
                       uint64_t alignment = 32, uint32_t version = 3, Layout* layout = nullptr) {
  std::string b = "GGUF";
  put<uint32_t>(b, version);
  put<uint64_t>(b, tensors.size());
  put<uint64_t>(b, kvs.size());
  Layout l;
  l.end_of_header = b.size();
  for (const Kv& e : kvs) {
    put_string(b, e.key);
    put<uint32_t>(b, e.type);
    b += e.value;
  }
  l.end_of_metadata = b.size();
  std::vector<uint64_t> offsets;
  uint64_t next = 0;
  for (const RawTensor& t : tensors) {
    const uint64_t offset = next;
    offsets.push_back(offset);
    next = offset + t.bytes.size();
    next += (alignment - next % alignment) % alignment;
    put_string(b, t.name);
    put<uint32_t>(b, t.ne.size());
    for (uint64_t d : t.ne) put<uint64_t>(b, d);
    put<uint32_t>(b, t.type);
    put<uint64_t>(b, offset);
  }
  l.end_of_infos = b.size();
  if (!tensors.empty()) b.resize(b.size() + (alignment - b.size() % alignment) % alignment, '\0');
  l.data_start = b.size();
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    if (b.size() < l.data_start + offsets[k]) b.resize(l.data_start + offsets[k], '\0');
    b.replace(l.data_start + offsets[k], tensors[k].bytes.size(), tensors[k].bytes);
  }
  if (layout != nullptr) *layout = l;
  return b;
}

// ---- Independent references -------------------------------------------------

// binary16 by its definition, in double.
double ref_half(uint16_t h) {
  const int sign = h >> 15;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  double v;
  if (exponent == 0x1f) {
    v = mantissa == 0 ? std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::quiet_NaN();
  } else if (exponent == 0) {
    v = std::ldexp(mantissa / 1024.0, -14);
  } else {
    v = std::ldexp(1.0 + mantissa / 1024.0, exponent - 15);
  }
  return sign ? -v : v;
}

// A normal fp16 bit pattern near x (truncating the mantissa): test data.
uint16_t half_bits_near(double x) {
  const int sign = x < 0 ? 1 : 0;
  int e;
  const double frac = std::frexp(std::fabs(x), &e);  // |x| = frac * 2^e, frac in [0.5, 1)
  const int exponent = e - 1 + 15;
  const int mantissa = static_cast<int>((frac * 2.0 - 1.0) * 1024.0);
  return static_cast<uint16_t>((sign << 15) | (exponent << 10) | mantissa);
}

std::string u16_bytes(const std::vector<uint16_t>& v) {
  std::string s(v.size() * 2, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}
std::string f32_bytes(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

// Q8_0 blocks from scales and int8 values, with the reference result.
std::string pack_q8_0(const std::vector<uint16_t>& d, const std::vector<int8_t>& q,
                      std::vector<float>* ref) {
  std::string b;
  for (std::size_t blk = 0; blk < d.size(); ++blk) {
    put<uint16_t>(b, d[blk]);
    for (int i = 0; i < 32; ++i) {
      const int8_t v = q[blk * 32 + i];
      put<int8_t>(b, v);
      ref->push_back(static_cast<float>(ref_half(d[blk]) * v));  // exact in double and float
    }
  }
  return b;
}

// Q4_1 blocks from scales, minima and 4-bit values (q[blk*32 + j], element
// order), with the reference: element j in the low nibble of byte j, j+16
// in its high nibble.
std::string pack_q4_1(const std::vector<uint16_t>& d, const std::vector<uint16_t>& m,
                      const std::vector<uint8_t>& q, std::vector<float>* ref) {
  std::string b;
  for (std::size_t blk = 0; blk < d.size(); ++blk) {
    put<uint16_t>(b, d[blk]);
    put<uint16_t>(b, m[blk]);
    for (int j = 0; j < 16; ++j) {
      put<uint8_t>(b, static_cast<uint8_t>(q[blk * 32 + j] | (q[blk * 32 + j + 16] << 4)));
    }
    for (int j = 0; j < 32; ++j) {
      // d * q + m is exact in double for these scales; one rounding to float.
      ref->push_back(static_cast<float>(ref_half(d[blk]) * q[blk * 32 + j] + ref_half(m[blk])));
    }
  }
  return b;
}


class GgufTest : public ::testing::Test {
 protected:
  void write(const std::string& bytes) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  // The message loading the file throws; "" when it loads.
  std::string load_error(const std::string& bytes) {
    write(bytes);
    return error_of([&] { GgufFile f(path_); });
  }

  hybrec::testing::TempDir dir_{"hybrec-gguf"};
  std::string path_ = dir_ / "model.gguf";
};

// A valid file with metadata and one tensor of each readable type.
std::string sample_file(Layout* layout = nullptr) {
  std::vector<float> ref;
  return build_gguf(
      {kv_string("general.architecture", "llama"), kv<uint32_t>("llama.block_count", 4, 30),
       kv_strings("tokenizer.ggml.tokens", {"<s>", "hello", "world"})},
      {{"a", 0, {3}, f32_bytes({1, 2, 3})},
       {"b", 8, {32}, pack_q8_0({0x3c00}, std::vector<int8_t>(32, 1), &ref)}},
      32, 3, layout);
}

// ---- Metadata -----------------------------------------------------------------

TEST_F(GgufTest, ReadsMetadataOfEveryType) {
  std::string i32s, f32s, nested, u8s;
  for (int32_t v : {3, -1, 1 << 30}) put<int32_t>(i32s, v);
  for (float v : {-0.5f, 1e-20f, 7.0f}) put<float>(f32s, v);
  for (uint8_t v : {0, 255}) put<uint8_t>(u8s, v);
  // An array of two arrays of strings.
  for (const auto& inner : {std::vector<std::string>{"a", "b"}, std::vector<std::string>{""}}) {
    put<uint32_t>(nested, 8);
    put<uint64_t>(nested, inner.size());
    for (const auto& s : inner) put_string(nested, s);
  }
  write(build_gguf({kv<uint8_t>("u8", 0, 200),
                    kv<int8_t>("i8", 1, -100),
                    kv<uint16_t>("u16", 2, 60000),
                    kv<int16_t>("i16", 3, -30000),
                    kv<uint32_t>("u32", 4, 4000000000u),
                    kv<int32_t>("i32", 5, -2000000000),
                    kv<float>("f32", 6, 0.1f),
                    kv<uint8_t>("bool", 7, 1),
                    kv_string("str", std::string("caf\xc3\xa9 \0x", 8)),
                    kv_string("empty", ""),
                    kv<uint64_t>("u64", 10, 1ull << 63),
                    kv<int64_t>("i64", 11, -(1ll << 62)),
                    kv<double>("f64", 12, 1e300),
                    kv_array("i32s", 5, 3, i32s),
                    kv_array("f32s", 6, 3, f32s),
                    kv_array("u8s", 0, 2, u8s),
                    kv_strings("strs", {"x", "", "yz"}),
                    kv_array("nested", 9, 2, nested),
                    kv_array("none", 4, 0, ""),
                    kv_string("general.architecture", "llama")},
                   {}));
  GgufFile f(path_);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.metadata().size(), 20u);
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.get_u32("u8"), 200u);
  EXPECT_EQ(f.get_i64("i8"), -100);
  EXPECT_EQ(f.get_u32("u16"), 60000u);
  EXPECT_EQ(f.get_i64("i16"), -30000);
  EXPECT_EQ(f.get_u32("u32"), 4000000000u);
  EXPECT_EQ(f.get_i64("i32"), -2000000000);
  EXPECT_EQ(f.get_f32("f32"), 0.1f);
  EXPECT_TRUE(f.get_bool("bool"));
  EXPECT_EQ(f.get_string("str"), std::string("caf\xc3\xa9 \0x", 8));
  EXPECT_EQ(f.get_string("empty"), "");
  EXPECT_EQ(f.get_u64("u64"), 1ull << 63);
  EXPECT_EQ(f.get_i64("i64"), -(1ll << 62));
  EXPECT_EQ(f.value("f64").f, 1e300);
  EXPECT_EQ(f.value("f64").type, GgufValueType::kFloat64);
  EXPECT_EQ(f.get_i32_array("i32s"), (std::vector<int32_t>{3, -1, 1 << 30}));
  EXPECT_EQ(f.get_f32_array("f32s"), (std::vector<float>{-0.5f, 1e-20f, 7.0f}));
  EXPECT_EQ(f.value("u8s").items.size(), 2u);
  EXPECT_EQ(f.value("u8s").items[1].u, 255u);
  EXPECT_EQ(f.get_string_array("strs"), (std::vector<std::string>{"x", "", "yz"}));
  const GgufValue& nest = f.value("nested");
  ASSERT_EQ(nest.item_type, GgufValueType::kArray);
  ASSERT_EQ(nest.items.size(), 2u);
  EXPECT_EQ(nest.items[0].items[1].s, "b");
  EXPECT_EQ(nest.items[1].items[0].s, "");
  EXPECT_TRUE(f.value("none").items.empty());
  EXPECT_EQ(f.architecture(), "llama");
  EXPECT_EQ(f.alignment(), 32u);
}

TEST_F(GgufTest, ReadsVersion2) {
  write(build_gguf({kv_string("general.architecture", "llama")}, {}, 32, 2));
  GgufFile f(path_);
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.architecture(), "llama");
}

TEST_F(GgufTest, GettersNameMissingKeysAndWrongTypes) {
  write(build_gguf(
      {kv_string("name", "x"), kv<int32_t>("neg", 5, -1), kv<uint64_t>("big", 10, 1ull << 40),
       kv_strings("strs", {"a"}), kv_array("ints", 5, 0, "")},
      {}));
  GgufFile f(path_);
  EXPECT_NE(error_of([&] {
              f.get_u32("llama.block_count");
            }).find("model.gguf: no metadata key 'llama.block_count'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.architecture(); }).find("no metadata key 'general.architecture'"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { f.get_u32("name"); }).find("metadata 'name' is string, expected an integer"),
      std::string::npos);
  EXPECT_NE(error_of([&] { f.get_string("neg"); }).find("'neg' is int32, expected string"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get_f32("name"); }).find("expected float32"), std::string::npos);
  EXPECT_NE(error_of([&] { f.get_bool("name"); }).find("expected bool"), std::string::npos);
  EXPECT_NE(error_of([&] { f.get_u32("neg"); }).find("-1 is negative"), std::string::npos);
  EXPECT_NE(error_of([&] { f.get_u32("big"); }).find("does not fit uint32"), std::string::npos);
  EXPECT_EQ(f.get_i64("big"), 1ll << 40);
  EXPECT_NE(error_of([&] {
              f.get_string_array("ints");
            }).find("'ints' is array of int32, expected array of string"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { f.get_i32_array("strs"); }).find("array of string, expected array of int32"),
      std::string::npos);
  EXPECT_NE(error_of([&] { f.get_f32_array("name"); }).find("expected array of float32"),
            std::string::npos);
}

// ---- Tensors ------------------------------------------------------------------

TEST_F(GgufTest, ReadsFloat32TensorsBackWithRowMajorShapes) {
  const std::vector<float> a = {1.5f, -2.25f, 3.0f, 0.0f, 1e-30f, -7.0f};
  Layout l;
  write(build_gguf({}, {{"a.weight", 0, {3, 2}, f32_bytes(a)}, {"s", 0, {}, f32_bytes({42.0f})}},
                   32, 3, &l));
  GgufFile f(path_);
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.tensors()[0].name, "a.weight");
  const auto& t = f.tensor("a.weight");
  EXPECT_EQ(t.type, GgmlType::kF32);
  EXPECT_EQ(t.ne, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.bytes, 24u);
  EXPECT_EQ(f.data_offset(), l.data_start);
  EXPECT_EQ(f.data_offset() % 32, 0u);
  EXPECT_EQ(t.data, f.tensor("s").data - 32);  // the next aligned offset
  EXPECT_EQ(f.read_f32("a.weight", {2, 3}), a);
  EXPECT_EQ(f.read_f32("s", {}), std::vector<float>{42.0f});
  EXPECT_TRUE(f.has_tensor("s"));
  EXPECT_FALSE(f.has_tensor("t"));
  EXPECT_NE(error_of([&] { f.tensor("t"); }).find("model.gguf: no tensor 't'"), std::string::npos);
}

TEST_F(GgufTest, WidensEveryHalfExactly) {
  std::vector<uint16_t> all(65536);
  for (uint32_t h = 0; h < 65536; ++h) all[h] = static_cast<uint16_t>(h);
  write(build_gguf({}, {{"h", 1, {256, 256}, u16_bytes(all)}}));
  GgufFile f(path_);
  const auto out = f.read_f32("h", {256, 256});
  for (uint32_t h = 0; h < 65536; ++h) {
    const double ref = ref_half(static_cast<uint16_t>(h));
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(out[h])) << std::hex << h;
    } else {
      ASSERT_EQ(out[h], static_cast<float>(ref)) << std::hex << h;
      ASSERT_EQ(std::signbit(out[h]), std::signbit(ref)) << std::hex << h;
    }
  }
}

TEST_F(GgufTest, DequantisesQ8_0Exactly) {
  std::mt19937 rng(7);
  std::vector<uint16_t> d = {0x3c00, half_bits_near(-0.0123), 0x0001, half_bits_near(3.7e4)};
  std::vector<int8_t> q(d.size() * 32);
  for (auto& v : q) v = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
  q[0] = -128;
  q[1] = 127;
  std::vector<float> ref;
  const std::string blocks = pack_q8_0(d, q, &ref);
  ASSERT_EQ(blocks.size(), 4u * 34);
  write(build_gguf({}, {{"w", 8, {64, 2}, blocks}}));
  GgufFile f(path_);
  EXPECT_EQ(f.tensor("w").bytes, 4u * 34);
  EXPECT_EQ(f.read_f32("w", {2, 64}), ref);
  EXPECT_EQ(ref[0], -128.0f);
  // The kernel directly, at an odd address (blocks are 34 bytes: scales sit
  // unaligned in a real file).
  std::string shifted = "x" + blocks;
  std::vector<float> out(128);
  kernels::dequantize_row_q8_0(shifted.data() + 1, 128, out.data());
  EXPECT_EQ(out, ref);
}

TEST_F(GgufTest, DequantisesQ4_1Exactly) {
  // Hand-checked block: d = 0.5, m = -1, q = element index mod 16.
  std::vector<uint8_t> q(32);
  for (int j = 0; j < 32; ++j) q[j] = static_cast<uint8_t>(j % 16);
  std::vector<float> ref;
  std::string one = pack_q4_1({0x3800}, {0xbc00}, q, &ref);
  EXPECT_EQ(static_cast<uint8_t>(one[4]), 0x00);  // q[0] = 0, q[16] = 0
  EXPECT_EQ(static_cast<uint8_t>(one[5]), 0x11);  // q[1] = 1, q[17] = 1
  EXPECT_EQ(ref[0], -1.0f);
  EXPECT_EQ(ref[15], 6.5f);
  EXPECT_EQ(ref[31], 6.5f);
  // Random blocks with realistic scales, and the order of the nibbles pinned
  // by elements that differ between the low and high halves.
  std::mt19937 rng(11);
  std::vector<uint16_t> d = {0x3800}, m = {0xbc00};
  for (int k = 0; k < 5; ++k) {
    d.push_back(half_bits_near(0.001 + 0.01 * k));
    m.push_back(half_bits_near(-0.05 - 0.03 * k));
  }
  for (std::size_t k = q.size(); k < d.size() * 32; ++k)
    q.push_back(static_cast<uint8_t>(rng() % 16));
  q[32] = 15;
  q[48] = 0;
  ref.clear();
  const std::string blocks = pack_q4_1(d, m, q, &ref);
  ASSERT_EQ(blocks.size(), 6u * 20);
  write(build_gguf({}, {{"w", 3, {64, 3}, blocks}}));
  GgufFile f(path_);
  EXPECT_EQ(f.tensor("w").type, GgmlType::kQ4_1);
  EXPECT_EQ(f.read_f32("w", {3, 64}), ref);
  std::vector<float> out(192);
  kernels::dequantize_row_q4_1(blocks.data(), 192, out.data());
  EXPECT_EQ(out, ref);
}

TEST_F(GgufTest, DequantiseKernelsRejectPartialBlocks) {
  std::vector<float> out(64);
  const std::string zeros(64, '\0');
  EXPECT_NE(error_of([&] {
              kernels::dequantize_row_q4_1(zeros.data(), 40, out.data());
            }).find("dequantize_row_q4_1: n = 40 is not a multiple of the block size 32"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              kernels::dequantize_row_q8_0(zeros.data(), -1, out.data());
            }).find("n = -1 is negative"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { kernels::dequantize_row_f16(nullptr, 0, nullptr); }), "");
}

TEST_F(GgufTest, HonoursGeneralAlignment) {
  write(build_gguf({kv<uint32_t>("general.alignment", 4, 64)},
                   {{"a", 0, {3}, f32_bytes({1, 2, 3})}, {"b", 0, {1}, f32_bytes({4})}}, 64));
  GgufFile f(path_);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.tensor("b").offset, 64u);
  EXPECT_EQ(f.read_f32("b", {1}), std::vector<float>{4});
}

TEST_F(GgufTest, ReadNamesWrongShapeAndUnreadableType) {
  std::string q6k(210, '\0');
  write(build_gguf({}, {{"w", 0, {3, 2}, f32_bytes({1, 2, 3, 4, 5, 6})}, {"k", 14, {256}, q6k}}));
  GgufFile f(path_);  // a Q6_K tensor loads ...
  EXPECT_EQ(f.tensor("k").bytes, 210u);
  // ... but is not read.
  EXPECT_NE(error_of([&] {
              f.read_f32("k", {256});
            }).find("tensor 'k' is Q6_K, which hybrec cannot dequantise"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              f.read_f32("w", {3, 2});
            }).find("model.gguf: tensor 'w' has shape [2, 3] (ggml ne [3, 2]), expected [3, 2]"),
            std::string::npos);
}

// ---- Damaged files ------------------------------------------------------------

TEST_F(GgufTest, RejectsBadMagicAndVersion) {
  std::string bytes = sample_file();
  ASSERT_EQ(load_error(bytes), "");
  std::string bad = bytes;
  bad[3] = 'X';
  EXPECT_NE(load_error(bad).find("model.gguf: bad magic"), std::string::npos);
  for (uint32_t version : {1u, 4u}) {
    bad = bytes;
    std::memcpy(&bad[4], &version, 4);
    EXPECT_NE(load_error(bad).find("unsupported version " + std::to_string(version)),
              std::string::npos);
  }
  bad = bytes;
  const uint32_t big_endian_3 = 0x03000000;
  std::memcpy(&bad[4], &big_endian_3, 4);
  EXPECT_NE(load_error(bad).find("big-endian"), std::string::npos);
}

TEST_F(GgufTest, RejectsEveryTruncation) {
  Layout l;
  const std::string bytes = sample_file(&l);
  ASSERT_EQ(load_error(bytes), "");
  // Every prefix fails cleanly with a hybrec::Error.
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    const std::string message = load_error(bytes.substr(0, cut));
    ASSERT_NE(message, "") << "cut at " << cut;
    ASSERT_EQ(message.find("not a hybrec::Error"), std::string::npos) << message;
    ASSERT_TRUE(message.find("truncated") != std::string::npos ||
                message.find("runs past the end of the file") != std::string::npos)
        << "cut at " << cut << ": " << message;
  }
  // And names where it stopped.
  EXPECT_NE(
      load_error(bytes.substr(0, 10)).find("truncated: 10 bytes, too short for the 24-byte header"),
      std::string::npos);
  // The counts alone need 3 x 13 + 2 x 24 bytes after the header, so cut
  // past them: inside the second entry's key ("general.architecture" then
  // "llama" take 45 bytes).
  EXPECT_NE(load_error(bytes.substr(0, l.end_of_header + 60)).find("metadata entry 1 key"),
            std::string::npos);
  EXPECT_NE(load_error(bytes.substr(0, l.end_of_header + 12)).find("metadata entries cannot fit"),
            std::string::npos);
  EXPECT_NE(
      load_error(bytes.substr(0, l.end_of_metadata - 3)).find("metadata 'tokenizer.ggml.tokens"),
      std::string::npos);
  EXPECT_NE(load_error(bytes.substr(0, l.end_of_infos - 4)).find("truncated: tensor 'b' offset"),
            std::string::npos);
  EXPECT_NE(load_error(bytes.substr(0, bytes.size() - 1))
                .find("tensor 'b': data [" + std::to_string(l.data_start + 32) + ", " +
                      std::to_string(bytes.size()) + ") runs past the end of the file (" +
                      std::to_string(bytes.size() - 1) + " bytes"),
            std::string::npos);
}

TEST_F(GgufTest, RejectsCountsTooLargeForTheFile) {
  std::string bytes = sample_file();
  std::string bad = bytes;
  const uint64_t huge = 1ull << 60;
  std::memcpy(&bad[8], &huge, 8);
  EXPECT_NE(load_error(bad).find("tensor infos cannot fit"), std::string::npos);
  bad = bytes;
  std::memcpy(&bad[16], &huge, 8);
  EXPECT_NE(load_error(bad).find("metadata entries cannot fit"), std::string::npos);
  // A huge array length fails before allocating.
  EXPECT_NE(load_error(build_gguf({kv_array("a", 5, 1ull << 61, "")}, {}))
                .find("truncated: metadata 'a': an array of 2305843009213693952 int32"),
            std::string::npos);
  // So does a huge string length.
  std::string s;
  put<uint64_t>(s, ~0ull);
  EXPECT_NE(load_error(build_gguf({{"s", 8, s}}, {})).find("truncated: metadata 's'"),
            std::string::npos);
}

TEST_F(GgufTest, RejectsBadTensorInfos) {
  const std::string f4 = f32_bytes({1, 2, 3, 4});
  // An offset past the data: patch the last 8 bytes of the tensor info.
  Layout l;
  std::string bytes = build_gguf({}, {{"w", 0, {4}, f4}}, 32, 3, &l);
  const uint64_t far = 4096;
  std::memcpy(&bytes[l.end_of_infos - 8], &far, 8);
  EXPECT_NE(load_error(bytes).find(
                "model.gguf: tensor 'w': data [" + std::to_string(l.data_start + 4096) + ", " +
                std::to_string(l.data_start + 4112) + ") runs past the end of the file (" +
                std::to_string(bytes.size()) + " bytes"),
            std::string::npos);
  bytes = build_gguf({}, {{"w", 0, {4}, f4}, {"v", 0, {4}, f4}}, 32, 3, &l);
  const uint64_t misaligned = 16;
  std::memcpy(&bytes[l.end_of_infos - 8], &misaligned, 8);
  EXPECT_NE(load_error(bytes).find("tensor 'v': offset 16 is not a multiple of the alignment 32"),
            std::string::npos);
  EXPECT_NE(load_error(build_gguf({}, {{"w", 0, {4}, f4}, {"w", 0, {4}, f4}}))
                .find("duplicate tensor name 'w'"),
            std::string::npos);
  EXPECT_NE(load_error(build_gguf({}, {{"w", 99, {4}, f4}}))
                .find("tensor 'w': unknown ggml tensor type id 99"),
            std::string::npos);
  EXPECT_NE(load_error(build_gguf({}, {{"w", 3, {40}, std::string(40, '\0')}}))
                .find("Q4_1 rows of ne[0] = 40 elements are not whole blocks of 32"),
            std::string::npos);
  EXPECT_NE(load_error(build_gguf({}, {{"w", 0, {1, 1, 1, 1, 1}, f4}})).find("5 dimensions"),
            std::string::npos);
  EXPECT_NE(load_error(build_gguf({}, {{"w", 0, {1ull << 40, 1ull << 40}, f4}}))
                .find("overflows the element count"),
            std::string::npos);
}

TEST_F(GgufTest, RejectsBadMetadata) {
  EXPECT_NE(load_error(build_gguf({kv<uint32_t>("x", 13, 0)}, {}))
                .find("metadata 'x': unknown value type id 13"),
            std::string::npos);
  EXPECT_NE(load_error(build_gguf({kv<uint32_t>("x", 4, 1), kv<uint32_t>("x", 4, 2)}, {}))
                .find("duplicate metadata key 'x'"),
            std::string::npos);
  EXPECT_NE(load_error(build_gguf({kv<uint8_t>("b", 7, 2)}, {})).find("bool byte 2"),
            std::string::npos);
  EXPECT_NE(load_error(build_gguf({kv<uint32_t>("general.alignment", 4, 48)}, {}))
                .find("general.alignment 48 is not a power of two"),
            std::string::npos);
  EXPECT_NE(load_error(build_gguf({kv<uint64_t>("general.alignment", 10, 32)}, {}))
                .find("general.alignment is uint64, expected uint32"),
            std::string::npos);
  EXPECT_NE(load_error(build_gguf({kv_array("a", 13, 1, "")}, {}))
                .find("unknown array element type id 13"),
            std::string::npos);
}

TEST_F(GgufTest, RejectsMissingFile) {
  EXPECT_NE(error_of([&] { GgufFile f(dir_ / "absent.gguf"); }).find("absent.gguf: cannot open"),
            std::string::npos);
}

}  // namespace
}  // namespace hybrec::text

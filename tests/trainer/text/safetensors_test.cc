// The safetensors reader: float32 read back bit-exact, fp16 and bf16 widened
// exactly, and every kind of damaged file rejected at load with the file and
// tensor named.
#include "trainer/text/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "testing/temp_dir.h"
#include "text_testing.h"

namespace hybrec::text {
namespace {

using testing::f32_bytes;
using testing::RawTensor;
using testing::write_safetensors;

std::string u16_bytes(const std::vector<uint16_t>& v) {
  std::string s(v.size() * 2, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

// The message of the error loading (or reading) throws; "" when none.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

class SafeTensorsTest : public ::testing::Test {
 protected:
  hybrec::testing::TempDir dir_{"hybrec-safetensors"};
  std::string path_ = dir_ / "model.safetensors";
};

TEST_F(SafeTensorsTest, ReadsFloat32TensorsBack) {
  const std::vector<float> a = {1.5f, -2.25f, 3.0f, 0.0f, 1e-30f, -7.0f};
  write_safetensors(path_, {{"a.weight", "F32", {2, 3}, f32_bytes(a)},
                            {"b", "F32", {1}, f32_bytes({42.0f})}});
  SafeTensors st(path_);
  EXPECT_EQ(st.tensors().size(), 2u);
  EXPECT_TRUE(st.has("a.weight"));
  EXPECT_FALSE(st.has("c"));
  EXPECT_EQ(st.tensor("a.weight").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(st.read_f32("a.weight", {2, 3}), a);
  EXPECT_EQ(st.read_f32("b", {1}), std::vector<float>{42.0f});
}

TEST_F(SafeTensorsTest, WidensHalfAndBfloat16Exactly) {
  // fp16: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), -0, +inf.
  const std::vector<uint16_t> half = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000, 0x7C00};
  // bf16: 1, -2, 3.140625 (0x4049), 1e38-ish (0x7E96).
  const std::vector<uint16_t> bf = {0x3F80, 0xC000, 0x4049, 0x7E96};
  write_safetensors(path_, {{"h", "F16", {7}, u16_bytes(half)}, {"b", "BF16", {4}, u16_bytes(bf)}});
  SafeTensors st(path_);
  const auto h = st.read_f32("h", {7});
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], 0.5f);
  EXPECT_EQ(h[3], 65504.0f);
  EXPECT_EQ(h[4], std::ldexp(1.0f, -24));
  EXPECT_EQ(h[5], 0.0f);
  EXPECT_TRUE(std::signbit(h[5]));
  EXPECT_EQ(h[6], std::numeric_limits<float>::infinity());
  const auto b = st.read_f32("b", {4});
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -2.0f);
  EXPECT_EQ(b[2], 3.140625f);
  uint32_t bits = 0x7E960000u;
  float expected;
  std::memcpy(&expected, &bits, sizeof expected);
  EXPECT_EQ(b[3], expected);
}

TEST_F(SafeTensorsTest, AMissingOrMisshapenTensorIsNamed) {
  write_safetensors(path_, {{"w", "F32", {2, 2}, f32_bytes({1, 2, 3, 4})},
                            {"ids", "I64", {1}, std::string(8, '\0')}});
  SafeTensors st(path_);
  std::string e = error_of([&] { st.read_f32("missing.weight", {2}); });
  EXPECT_NE(e.find("no tensor 'missing.weight'"), std::string::npos) << e;
  EXPECT_NE(e.find(path_), std::string::npos) << e;
  e = error_of([&] { st.read_f32("w", {4, 1}); });
  EXPECT_NE(e.find("tensor 'w' has shape [2, 2], expected [4, 1]"), std::string::npos) << e;
  e = error_of([&] { st.read_f32("ids", {1}); });
  EXPECT_NE(e.find("'ids' is I64, not a float dtype"), std::string::npos) << e;
}

TEST_F(SafeTensorsTest, DamagedFilesFailAtLoadNamingTheProblem) {
  const RawTensor w{"w", "F32", {4}, f32_bytes({1, 2, 3, 4})};
  struct Case {
    const char* what;
    std::function<void(const std::string&)> write;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"no file", [](const std::string&) {}, "cannot open"},
      {"too short", [](const std::string& p) { std::ofstream(p) << "abc"; }, "too short"},
      {"truncated data",
       [&](const std::string& p) {
         write_safetensors(p, {w});
         std::filesystem::resize_file(p, std::filesystem::file_size(p) - 4);
       },
       "outside the data section"},
      {"header longer than the file",
       [](const std::string& p) {
         std::ofstream out(p, std::ios::binary);
         const char len[8] = {static_cast<char>(0xff), 0x7f, 0, 0, 0, 0, 0, 0};
         out.write(len, 8);
         out << "{}";
       },
       "runs past the end of the file"},
      {"bad json", [&](const std::string& p) { write_safetensors(p, {w}, "{\"w\": [1,"); },
       "not valid JSON"},
      {"unknown dtype",
       [&](const std::string& p) { write_safetensors(p, {{"w", "F48", {4}, w.bytes}}); },
       "unknown dtype 'F48'"},
      {"size mismatch",
       [&](const std::string& p) { write_safetensors(p, {{"w", "F32", {5}, w.bytes}}); },
       "16 bytes for F32 [5], which needs 20"},
      {"missing fields",
       [&](const std::string& p) {
         write_safetensors(p, {w}, "{\"w\": {\"dtype\": \"F32\", \"shape\": [4]}}");
       },
       "needs dtype, shape and data_offsets"},
  };
  for (const auto& c : cases) {
    const std::string p = dir_ / (std::string("case-") + std::to_string(&c - cases.data()));
    c.write(p);
    const std::string e = error_of([&] { SafeTensors st(p); });
    EXPECT_NE(e.find(c.message), std::string::npos) << c.what << ": " << e;
    EXPECT_NE(e.find(p), std::string::npos) << c.what << ": " << e;
  }
}

// Random damage to a valid file (bytes overwritten anywhere, or the file cut
// short) is either still a valid file or an error at load: never a crash or
// a read outside the mapping (the sanitizer builds run this too).
TEST_F(SafeTensorsTest, RandomDamageIsRejectedOrHarmless) {
  write_safetensors(path_, {{"a", "F32", {3, 2}, f32_bytes({1, 2, 3, 4, 5, 6})},
                            {"b", "F16", {2}, u16_bytes({0x3C00, 0x4000})}});
  std::string original;
  {
    std::ifstream in(path_, std::ios::binary);
    original.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::mt19937 rng(7);
  int rejected = 0;
  const int trials = 2000;
  for (int trial = 0; trial < trials; ++trial) {
    std::string bytes = original;
    if (trial % 4 == 0) {
      bytes.resize(rng() % bytes.size());
    } else {
      for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k)
        bytes[rng() % bytes.size()] = static_cast<char>(rng() % 256);
    }
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
    try {
      SafeTensors st(path_);
      for (const auto& [name, t] : st.tensors()) {
        try {
          st.read_f32(name, t.shape);
        } catch (const std::exception&) {  // a dtype that is not float: named
        }
      }
    } catch (const std::exception&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, trials / 4);  // the cut-short quarter at least
}

}  // namespace
}  // namespace hybrec::text

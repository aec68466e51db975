// The CPU quantised matrix product against dequantise-then-multiply in
// double, on random blocks of every type, over shapes that take both CPU
// loops (n < 4 fused, n >= 4 through the scratch row), rows that are one
// block, sizes not divisible by the AVX2 width (F32, F16), and the empty
// edges; plus the argument errors. Tolerance (hybrec/kernels/quant_matmul.h):
// |y - ref| <= 1e-5 * sum_j |w_j x_j| + 1e-6.
#include "hybrec/kernels/quant_matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "quant_matmul_problem.h"
#include "testing.h"

namespace hk = hybrec::kernels;
using hybrec::testing::expect_error;
using hybrec::testing::make_quant_problem;

namespace {

const hk::Device kCpu = hk::Device::cpu();

struct Shape {
  int64_t n, in, out;
};

void check_against_reference(hk::QuantType type, const Shape& s, uint64_t seed) {
  auto p = make_quant_problem(type, s.n, s.in, s.out, seed);
  std::vector<float> y(static_cast<std::size_t>(s.n * s.out), -7.0f);
  p.bind(y.data());
  hk::quant_matmul(kCpu, p.params);
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double tol = 1e-5 * p.bound[i] + 1e-6;
    ASSERT_NEAR(y[i], p.ref[i], tol) << hk::quant_type_name(type) << " n=" << s.n << " in=" << s.in
                                     << " out=" << s.out << " at " << i;
  }
}

TEST(QuantMatmul, MatchesDequantisedReferenceForBlockTypes) {
  const Shape shapes[] = {{1, 32, 1}, {1, 576, 7},  {2, 64, 5},    {3, 96, 9},
                          {4, 96, 3}, {5, 160, 11}, {9, 1536, 17}, {1, 1536, 13}};
  uint64_t seed = 1;
  for (auto type : {hk::QuantType::kQ4_1, hk::QuantType::kQ8_0}) {
    for (const auto& s : shapes) check_against_reference(type, s, seed++);
  }
}

TEST(QuantMatmul, MatchesReferenceForFloatTypesAtOddSizes) {
  const Shape shapes[] = {{1, 1, 1}, {1, 13, 5}, {2, 29, 3}, {4, 7, 6}, {6, 100, 9}, {1, 576, 4}};
  uint64_t seed = 100;
  for (auto type : {hk::QuantType::kF32, hk::QuantType::kF16}) {
    for (const auto& s : shapes) check_against_reference(type, s, seed++);
  }
}

TEST(QuantMatmul, EmptyRowsOrOutputsWriteNothing) {
  hk::QuantMatmulParams p;
  p.w_type = hk::QuantType::kQ4_1;
  p.in = 64;
  p.n = 0;
  p.out = 5;
  hk::quant_matmul(kCpu, p);  // null pointers allowed
  p.n = 3;
  p.out = 0;
  hk::quant_matmul(kCpu, p);
}

TEST(QuantMatmul, ZeroInFeaturesWritesZeros) {
  std::vector<float> y(6, 3.0f);
  hk::QuantMatmulParams p;
  p.w_type = hk::QuantType::kQ8_0;
  p.n = 2;
  p.in = 0;
  p.out = 3;
  p.y = y.data();
  hk::quant_matmul(kCpu, p);
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(QuantMatmul, RejectsBadArguments) {
  auto p = make_quant_problem(hk::QuantType::kQ4_1, 1, 64, 2, 7);
  std::vector<float> y(2);
  p.bind(y.data());
  auto bad = p.params;
  bad.in = 48;
  expect_error([&] { hk::quant_matmul(kCpu, bad); }, "in = 48 is not a multiple of the Q4_1");
  bad = p.params;
  bad.n = -1;
  expect_error([&] { hk::quant_matmul(kCpu, bad); }, "n must be >= 0, got -1");
  bad = p.params;
  bad.y = nullptr;
  expect_error([&] { hk::quant_matmul(kCpu, bad); }, "y is null");
  bad = p.params;
  bad.w_type = static_cast<hk::QuantType>(2);
  expect_error([&] { hk::quant_matmul(kCpu, bad); }, "unsupported weight type id 2");
  EXPECT_FALSE(hk::quant_matmul_supports(kCpu, bad));
  EXPECT_TRUE(hk::quant_matmul_supports(kCpu, p.params));
}

TEST(QuantMatmul, RowBytesFollowTheBlockFormats) {
  EXPECT_EQ(hk::quant_row_bytes(hk::QuantType::kQ4_1, 576), 18 * 20);
  EXPECT_EQ(hk::quant_row_bytes(hk::QuantType::kQ8_0, 576), 18 * 34);
  EXPECT_EQ(hk::quant_row_bytes(hk::QuantType::kF16, 5), 10);
  EXPECT_EQ(hk::quant_row_bytes(hk::QuantType::kF32, 5), 20);
}

}  // namespace

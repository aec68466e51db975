// The CPU quantised matrix product on random blocks of every type, over
// shapes that take every tile (1, 2 or 4 W rows by 1 to 4 rows of x, with
// remainders), both float loops (n < 4 fused, n >= 4 through the scratch
// row), rows that are one block, sizes not divisible by the AVX2 width (F32,
// F16), and the empty edges; plus the int8 quantiser, the range entry point
// and the argument errors. Tolerances (hybrec/kernels/quant_matmul.h):
// F32/F16 |y - ref| <= 1e-5 * sum_j |w_j x_j| + 1e-6; Q8_0/Q4_1 the same
// fp32 tolerance against the int8 reference, and against dequantise-then-
// fp32 the activation rounding bound on top.
#include "hybrec/kernels/quant_matmul.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#ifdef __F16C__
#include <immintrin.h>
#endif

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

void check_against_reference(hk::QuantType type, const Shape& s, uint64_t seed,
                             float x_scale = 1.0f) {
  auto p = make_quant_problem(type, s.n, s.in, s.out, seed, x_scale);
  std::vector<float> y(static_cast<std::size_t>(s.n * s.out), -7.0f);
  p.bind(y.data());
  hk::quant_matmul(kCpu, p.params);
  const bool blocked = type == hk::QuantType::kQ8_0 || type == hk::QuantType::kQ4_1;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double fp32 = 1e-5 * p.bound[i] + 1e-6;
    ASSERT_NEAR(y[i], p.ref[i], fp32 + (blocked ? p.act_tol[i] : 0.0))
        << hk::quant_type_name(type) << " n=" << s.n << " in=" << s.in << " out=" << s.out
        << " x_scale=" << x_scale << " at " << i;
    if (blocked) {
      ASSERT_NEAR(y[i], p.ref_q8[i], 1e-5 * p.bound_q8[i] + 1e-6 * x_scale)
          << "int8 reference, " << hk::quant_type_name(type) << " n=" << s.n << " in=" << s.in
          << " out=" << s.out << " x_scale=" << x_scale << " at " << i;
    }
  }
}

TEST(QuantMatmul, BlockTypesMatchTheInt8ReferenceAndDequantisedWithinTheRounding) {
  const Shape shapes[] = {{1, 32, 1},   {1, 576, 7},   {2, 64, 5},    {3, 96, 9}, {4, 96, 3},
                          {5, 160, 11}, {9, 1536, 17}, {1, 1536, 13}, {7, 64, 6}, {16, 128, 10}};
  uint64_t seed = 1;
  for (auto type : {hk::QuantType::kQ4_1, hk::QuantType::kQ8_0}) {
    for (const auto& s : shapes) check_against_reference(type, s, seed++);
    // Tiny activations give subnormal fp16 scales; large ones large scales.
    check_against_reference(type, {3, 96, 5}, seed++, 1e-4f);
    check_against_reference(type, {2, 64, 9}, seed++, 300.0f);
  }
}

// The activation rounding is what the tolerance says, not slack: on
// Q4_1 the int8 product differs from dequantise-then-fp32 by far more than
// fp32 rounding, and by less than the stated bound.
TEST(QuantMatmul, Int8ActivationsDifferFromFp32ByTheRoundingNotMore) {
  auto p = make_quant_problem(hk::QuantType::kQ4_1, 4, 1536, 64, 77);
  std::vector<float> y(4 * 64);
  p.bind(y.data());
  hk::quant_matmul(kCpu, p.params);
  double worst_ratio = 0.0, above_fp32 = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double diff = std::fabs(y[i] - p.ref[i]);
    worst_ratio = std::max(worst_ratio, diff / p.act_tol[i]);
    above_fp32 = std::max(above_fp32, diff / (1e-5 * p.bound[i] + 1e-6));
  }
  EXPECT_LT(worst_ratio, 1.0);
  EXPECT_GT(above_fp32, 1.0) << "the int8 rounding should be visible at this size";
}

TEST(QuantMatmul, QuantizeActivationsFollowsTheContract) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> uni(-3.0f, 3.0f);
  std::vector<float> x(6 * 64);
  for (auto& v : x) v = uni(rng);
  for (int j = 0; j < 32; ++j) x[64 + j] = 0.0f;  // an all-zero block
  for (int j = 0; j < 32; ++j) x[96 + j] = 0.0f;  // one non-zero value
  x[100] = -0.25f;
  // amax 127 makes the multiplier exactly 1: halves round to even.
  const float ties[] = {127.0f, 2.5f, 3.5f, -2.5f, -0.5f, 0.5f, 126.5f, -1.5f};
  for (int j = 0; j < 32; ++j) x[128 + j] = ties[j % 8];
  for (int j = 0; j < 32; ++j) x[160 + j] *= 1e-5f;  // subnormal fp16 scale
  std::vector<hk::Q8Block> got(x.size() / 32);
  hk::quantize_activations(x.data(), 6, 64, got.data());
  for (std::size_t b = 0; b < got.size(); ++b) {
    const auto want = hybrec::testing::ref_quantize(x.data() + 32 * b);
    EXPECT_EQ(got[b].d, want.d) << "block " << b;
    EXPECT_EQ(got[b].s, want.s) << "block " << b;
    for (int j = 0; j < 32; ++j) ASSERT_EQ(got[b].q[j], want.q[j]) << "block " << b << " j " << j;
  }
  EXPECT_EQ(got[2].d, 0.0f);
  EXPECT_EQ(got[2].s, 0.0f);
  EXPECT_EQ(got[3].q[4], -127);
  const int8_t even[] = {127, 2, 4, -2, 0, 0, 126, -2};
  for (int j = 0; j < 8; ++j) EXPECT_EQ(got[4].q[j], even[j]) << ties[j];
}

TEST(QuantMatmul, RangeWritesOnlyItsFeaturesAsTheWholeProductDoes) {
  for (auto type : {hk::QuantType::kQ4_1, hk::QuantType::kQ8_0, hk::QuantType::kF16}) {
    for (int64_t n : {1, 3, 6}) {
      auto p = make_quant_problem(type, n, 96, 13, 40 + n);
      std::vector<float> whole(static_cast<std::size_t>(n * 13));
      p.bind(whole.data());
      hk::quant_matmul(kCpu, p.params);
      std::vector<hk::Q8Block> xq(static_cast<std::size_t>(n * 3));
      hk::quantize_activations(p.x.data(), n, 96, xq.data());
      std::vector<float> part(whole.size(), -7.0f);
      auto params = p.params;
      params.y = part.data();
      hk::quant_matmul_range(params, xq.data(), 3, 10);
      for (int64_t r = 0; r < n; ++r) {
        for (int64_t o = 0; o < 13; ++o) {
          const float want = o >= 3 && o < 10 ? whole[r * 13 + o] : -7.0f;
          // F16 pairs its rows from `begin`, so only the last bits may move.
          const float tol = type == hk::QuantType::kF16 ? 1e-5f * (1.0f + std::fabs(want)) : 0.0f;
          EXPECT_NEAR(part[r * 13 + o], want, tol)
              << hk::quant_type_name(type) << " n=" << n << " r=" << r << " o=" << o;
        }
      }
    }
  }
}

TEST(QuantMatmul, ThreadCountDoesNotChangeTheBits) {
  auto p = make_quant_problem(hk::QuantType::kQ4_1, 5, 576, 37, 9);
  std::vector<float> one(5 * 37), two(5 * 37);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  p.bind(one.data());
  hk::quant_matmul(kCpu, p.params);
  omp_set_num_threads(2);
  p.bind(two.data());
  hk::quant_matmul(kCpu, p.params);
  omp_set_num_threads(saved);
  EXPECT_EQ(one, two);
}

#ifdef __F16C__
TEST(QuantMatmul, FloatToHalfRoundsAsF16C) {
  std::mt19937_64 rng(3);
  std::vector<float> values = {0.0f,      -0.0f,
                               1.0f,      65504.0f,
                               65519.99f, 65520.0f,
                               1e9f,      -1e9f,
                               6.1e-5f,   5.96e-8f,
                               2.98e-8f,  2.99e-8f,
                               1e-10f,    std::numeric_limits<float>::infinity()};
  for (int i = 0; i < 200000; ++i) {
    const auto bits = static_cast<uint32_t>(rng());
    float f;
    std::memcpy(&f, &bits, sizeof f);
    if (!std::isnan(f)) values.push_back(f);
  }
  for (float f : values) {
    ASSERT_EQ(hk::float_to_half(f), _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)) << f;
  }
  EXPECT_EQ(hk::float_to_half(std::nanf("")) & 0x7e00u, 0x7e00u);
}
#endif

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

TEST(QuantMatmul, RangeAndQuantizerRejectBadArguments) {
  auto p = make_quant_problem(hk::QuantType::kQ4_1, 1, 64, 4, 8);
  std::vector<float> y(4);
  p.bind(y.data());
  std::vector<hk::Q8Block> xq(2);
  expect_error([&] { hk::quant_matmul_range(p.params, xq.data(), 3, 5); },
               "[3, 5) is not a range of the out = 4");
  expect_error([&] { hk::quant_matmul_range(p.params, nullptr, 0, 4); }, "xq is null");
  expect_error([&] { hk::quantize_activations(p.x.data(), 1, 48, xq.data()); },
               "in = 48 must be a non-negative multiple of the block size 32");
}

TEST(QuantMatmul, RowBytesFollowTheBlockFormats) {
  EXPECT_EQ(hk::quant_row_bytes(hk::QuantType::kQ4_1, 576), 18 * 20);
  EXPECT_EQ(hk::quant_row_bytes(hk::QuantType::kQ8_0, 576), 18 * 34);
  EXPECT_EQ(hk::quant_row_bytes(hk::QuantType::kF16, 5), 10);
  EXPECT_EQ(hk::quant_row_bytes(hk::QuantType::kF32, 5), 20);
}

}  // namespace

// The CUDA quantised matrix product against the references of the CPU test
// (quant_matmul_problem.h), same tolerances: F32/F16 against
// dequantise-then-multiply, Q8_0/Q4_1 against the int8-activation reference
// (and so against the CPU backend).
// Compiled, not yet run on a GPU: it skips where no CUDA device is present.
#include <gtest/gtest.h>

#include <vector>

#include "hybrec/kernels/quant_matmul.h"
#include "quant_matmul_problem.h"
#include "testing.h"

namespace hk = hybrec::kernels;
using hybrec::testing::make_quant_problem;

namespace {

TEST(QuantMatmulGpu, MatchesDequantisedReference) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const hk::Device gpu = hk::Device::cuda();
  struct Shape {
    int64_t n, in, out;
  };
  const Shape shapes[] = {{1, 32, 1}, {1, 576, 7}, {4, 96, 3}, {9, 1536, 17}};
  uint64_t seed = 1;
  for (auto type :
       {hk::QuantType::kQ4_1, hk::QuantType::kQ8_0, hk::QuantType::kF16, hk::QuantType::kF32}) {
    for (const auto& s : shapes) {
      auto p = make_quant_problem(type, s.n, s.in, s.out, seed++);
      hk::Buffer<uint8_t> w(gpu, p.w);
      hk::Buffer<float> x(gpu, p.x);
      hk::Buffer<float> y(gpu, static_cast<std::size_t>(s.n * s.out));
      auto params = p.params;
      params.w = w.data();
      params.x = x.data();
      params.y = y.data();
      hk::quant_matmul(gpu, params);
      const std::vector<float> got = y.download();
      const bool blocked = type == hk::QuantType::kQ8_0 || type == hk::QuantType::kQ4_1;
      for (std::size_t i = 0; i < got.size(); ++i) {
        if (blocked) {
          ASSERT_NEAR(got[i], p.ref_q8[i], 1e-5 * p.bound_q8[i] + 1e-6)
              << hk::quant_type_name(type) << " at " << i;
        } else {
          ASSERT_NEAR(got[i], p.ref[i], 1e-5 * p.bound[i] + 1e-6)
              << hk::quant_type_name(type) << " at " << i;
        }
      }
    }
  }
}

}  // namespace

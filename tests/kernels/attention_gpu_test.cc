// CUDA attention against the CPU backend on the same inputs, with the
// tolerances stated in attention.h.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "attention_problem.h"
#include "hybrec/kernels/attention.h"
#include "testing.h"

namespace hybrec {
namespace {

using kernels::AttentionParams;
using kernels::Buffer;
using kernels::Device;
using testing::AttentionProblem;
using testing::AttentionResult;
using testing::AttentionShape;
using testing::Padding;

constexpr double kOutAtol = 1e-5, kOutRtol = 1e-4;
constexpr double kGradAtol = 1e-4, kGradRtol = 1e-3;

// Forward and backward on the GPU; dq/dk/dv start as NaN so that any element
// the backward fails to overwrite shows up.
AttentionResult run_gpu_attention(const AttentionProblem& pb) {
  const auto gpu = Device::cuda();
  Buffer<float> q(gpu, pb.q), k(gpu, pb.k), v(gpu, pb.v), dout(gpu, pb.dout);
  Buffer<float> out(gpu, pb.q.size()), lse(gpu, pb.lse_size());
  const std::vector<float> nans(pb.q.size(), std::numeric_limits<float>::quiet_NaN());
  Buffer<float> dq(gpu, nans), dk(gpu, nans), dv(gpu, nans);
  Buffer<std::uint8_t> mask;
  if (!pb.mask.empty()) mask = Buffer<std::uint8_t>(gpu, pb.mask);
  auto p = pb.params();
  p.key_padding_mask = pb.mask.empty() ? nullptr : mask.data();
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.out = out.data();
  p.lse = lse.data();
  p.dout = dout.data();
  p.dq = dq.data();
  p.dk = dk.data();
  p.dv = dv.data();
  kernels::attention_forward(gpu, p);
  kernels::attention_backward(gpu, p);
  kernels::synchronize(gpu);
  return {out.download(), lse.download(), dq.download(), dk.download(), dv.download()};
}

void expect_matches_cpu(const AttentionProblem& pb) {
  const auto cpu = testing::run_cpu_attention(pb);
  const auto gpu = run_gpu_attention(pb);
  EXPECT_TRUE(testing::all_close(gpu.out, cpu.out, kOutAtol, kOutRtol)) << "out";
  EXPECT_TRUE(testing::lse_close(gpu.lse, cpu.lse, kOutAtol, kOutRtol)) << "lse";
  EXPECT_TRUE(testing::all_close(gpu.dq, cpu.dq, kGradAtol, kGradRtol)) << "dq";
  EXPECT_TRUE(testing::all_close(gpu.dk, cpu.dk, kGradAtol, kGradRtol)) << "dk";
  EXPECT_TRUE(testing::all_close(gpu.dv, cpu.dv, kGradAtol, kGradRtol)) << "dv";
}

// Lengths around and between the tiles (32/64 rows and columns) up to the 512
// limit, all three head dims, causal on and off, every padding pattern
// (kMixed holds an all-padded sequence and a padded first key).
TEST(AttentionGpu, MatchesCpuBackend) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const std::int64_t lengths[] = {1, 2, 7, 31, 33, 64, 65, 130, 200, 512};
  const std::int64_t dims[] = {32, 64, 128};
  const Padding paddings[] = {Padding::kNone, Padding::kMixed, Padding::kRandom};
  std::uint64_t seed = 1000;
  int n = 0;
  for (std::int64_t L : lengths) {
    for (std::int64_t D : dims) {
      for (bool causal : {false, true}) {
        const Padding pad = paddings[n % 3];
        const std::int64_t batch = pad == Padding::kMixed ? 3 : 1 + n % 2;
        const AttentionShape shape{batch, L, 1 + n % 4, D, causal, pad};
        ++n;
        SCOPED_TRACE(::testing::Message() << shape);
        expect_matches_cpu(AttentionProblem(shape, seed++));
      }
    }
  }
}

TEST(AttentionGpu, NonDefaultScaleMatchesCpuBackend) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  AttentionProblem pb({2, 77, 3, 64, true, Padding::kRandom}, 7);
  pb.scale = 0.4f;
  expect_matches_cpu(pb);
}

TEST(AttentionGpu, FullyMaskedQueriesGiveZerosAndMinusInfNotNaN) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const AttentionShape shape{3, 70, 2, 32, true, Padding::kMixed};
  const AttentionProblem pb(shape, 9);
  const auto gpu = run_gpu_attention(pb);
  for (const auto* x : {&gpu.out, &gpu.dq, &gpu.dk, &gpu.dv}) {
    for (float value : *x) ASSERT_TRUE(std::isfinite(value));
  }
  // Sequence 2 is all padded: every output and gradient of it is zero.
  const std::size_t per_sequence =
      static_cast<std::size_t>(shape.seq_len * shape.heads * shape.head_dim);
  for (std::size_t i = 2 * per_sequence; i < 3 * per_sequence; ++i) {
    ASSERT_EQ(gpu.out[i], 0.0f);
    ASSERT_EQ(gpu.dq[i], 0.0f);
    ASSERT_EQ(gpu.dk[i], 0.0f);
    ASSERT_EQ(gpu.dv[i], 0.0f);
  }
  for (std::int64_t i = 2 * shape.heads * shape.seq_len; i < 3 * shape.heads * shape.seq_len; ++i) {
    ASSERT_EQ(gpu.lse[static_cast<std::size_t>(i)], -std::numeric_limits<float>::infinity());
  }
}

// batch * heads above 65535 exercises the flattened grid.
TEST(AttentionGpu, ManyHeadsAndSequences) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  expect_matches_cpu(AttentionProblem({33000, 3, 2, 32, false, Padding::kRandom}, 21));
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no hybrec::Error thrown)";
}

TEST(AttentionGpu, RejectsUnsupportedSizesNamingTheValue) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const auto gpu = Device::cuda();
  for (std::int64_t D : {16, 48, 96, 256}) {
    const AttentionProblem pb({1, 8, 1, D, false, Padding::kNone}, 3);
    Buffer<float> q(gpu, pb.q), out(gpu, pb.q.size()), lse(gpu, pb.lse_size());
    auto p = pb.params();
    p.q = p.k = p.v = q.data();
    p.out = out.data();
    p.lse = lse.data();
    EXPECT_FALSE(kernels::attention_supports(gpu, p));
    const std::string message = error_of([&] { kernels::attention_forward(gpu, p); });
    EXPECT_NE(message.find("head_dim " + std::to_string(D)), std::string::npos) << message;
  }
  const AttentionProblem pb({1, 513, 1, 32, false, Padding::kNone}, 3);
  Buffer<float> q(gpu, pb.q), out(gpu, pb.q.size()), lse(gpu, pb.lse_size());
  auto p = pb.params();
  p.q = p.k = p.v = q.data();
  p.out = out.data();
  p.lse = lse.data();
  EXPECT_FALSE(kernels::attention_supports(gpu, p));
  const std::string message = error_of([&] { kernels::attention_forward(gpu, p); });
  EXPECT_NE(message.find("seq_len 513"), std::string::npos) << message;
  // A pointer the float4 loads cannot use is named too.
  const AttentionProblem ok({1, 8, 1, 32, false, Padding::kNone}, 3);
  Buffer<float> q2(gpu, ok.q.size() + 1), out2(gpu, ok.q.size()), lse2(gpu, ok.lse_size());
  auto p2 = ok.params();
  p2.q = q2.data() + 1;
  p2.k = p2.v = q2.data();
  p2.out = out2.data();
  p2.lse = lse2.data();
  const std::string misaligned = error_of([&] { kernels::attention_forward(gpu, p2); });
  EXPECT_NE(misaligned.find("q ("), std::string::npos) << misaligned;
  EXPECT_NE(misaligned.find("16-byte aligned"), std::string::npos) << misaligned;
}

}  // namespace
}  // namespace hybrec

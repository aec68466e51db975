// CPU decode attention with a KV cache: against a naive double reference,
// against the last row of a causal attention_forward over the same
// sequences, cache positions past the length never read, the default scale,
// clamping without check_bounds, and argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "attention_decode_problem.h"
#include "hybrec/kernels/attention.h"
#include "testing.h"

namespace hk = hybrec::kernels;
using hybrec::testing::expect_error;
using hybrec::testing::all_close;
using hybrec::testing::DecodeProblem;
using hybrec::testing::DecodeShape;
using hybrec::testing::random_floats;

namespace {

const hk::Device kCpu = hk::Device::cpu();
constexpr double kAtol = 1e-5, kRtol = 1e-4;


std::vector<float> run_decode(const DecodeProblem& pb, const hk::Device& device = kCpu) {
  std::vector<float> out(pb.out_size(), -9.0f);
  auto p = pb.params();
  p.q = pb.q.data();
  p.k_cache = pb.k.data();
  p.v_cache = pb.v.data();
  p.lengths = pb.lengths.data();
  p.out = out.data();
  hk::attention_decode_forward(device, p);
  return out;
}

const DecodeShape kShapes[] = {{1, 1, 1, 1},  {2, 3, 5, 7},     {3, 2, 64, 33},
                               {4, 2, 33, 1}, {5, 4, 128, 200}, {2, 1, 300, 17}};

TEST(AttentionDecode, MatchesNaiveDoubleReference) {
  std::uint64_t seed = 1;
  for (const auto& s : kShapes) {
    SCOPED_TRACE(testing::Message() << s);
    DecodeProblem pb(s, seed += 10);
    EXPECT_TRUE(all_close(run_decode(pb), pb.reference(), kAtol, kRtol));
    pb.scale = 0.3f;
    EXPECT_TRUE(all_close(run_decode(pb), pb.reference(), kAtol, kRtol));
  }
}

// The decode step is the causal forward's last query: q of position
// lengths[b] - 1 over the keys up to it.
TEST(AttentionDecode, EqualsLastRowOfCausalAttentionForward) {
  for (const auto& s : kShapes) {
    SCOPED_TRACE(testing::Message() << s);
    DecodeProblem pb(s, 100);
    const std::int64_t B = s.batch, L = s.max_len, H = s.heads, D = s.head_dim;
    const auto q_seq = random_floats(static_cast<std::size_t>(B * L * H * D), 101);
    // The query of each sequence's newest token goes into the decode problem.
    for (std::int64_t b = 0; b < B; ++b) {
      const std::int64_t last = pb.lengths[b] - 1;
      for (std::int64_t i = 0; i < H * D; ++i)
        pb.q[b * H * D + i] = q_seq[(b * L + last) * H * D + i];
    }
    std::vector<float> out(q_seq.size()), lse(static_cast<std::size_t>(B * H * L));
    hk::AttentionParams ap;
    ap.batch = B;
    ap.seq_len = L;
    ap.heads = H;
    ap.head_dim = D;
    ap.causal = true;
    ap.q = q_seq.data();
    ap.k = pb.k.data();
    ap.v = pb.v.data();
    ap.out = out.data();
    ap.lse = lse.data();
    hk::attention_forward(kCpu, ap);
    std::vector<float> last_rows(pb.out_size());
    for (std::int64_t b = 0; b < B; ++b) {
      const std::int64_t last = pb.lengths[b] - 1;
      for (std::int64_t i = 0; i < H * D; ++i)
        last_rows[b * H * D + i] = out[(b * L + last) * H * D + i];
    }
    EXPECT_TRUE(all_close(run_decode(pb), last_rows, kAtol, kRtol));
  }
}

TEST(AttentionDecode, CachePositionsPastTheLengthAreNeverRead) {
  DecodeProblem pb({3, 2, 16, 10}, 200);
  const auto clean = run_decode(pb);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (std::int64_t b = 0; b < 3; ++b) {
    for (std::int64_t j = pb.lengths[b]; j < 10; ++j) {
      for (std::int64_t i = 0; i < 2 * 16; ++i) {
        pb.k[(b * 10 + j) * 32 + i] = nan;
        pb.v[(b * 10 + j) * 32 + i] = nan;
      }
    }
  }
  EXPECT_EQ(run_decode(pb), clean);
}

TEST(AttentionDecode, OneCachedKeyReturnsItsValue) {
  DecodeProblem pb({2, 3, 8, 4}, 300);
  pb.lengths = {1, 1};
  const auto out = run_decode(pb);
  for (std::int64_t b = 0; b < 2; ++b) {
    for (std::int64_t i = 0; i < 24; ++i) EXPECT_FLOAT_EQ(out[b * 24 + i], pb.v[b * 4 * 24 + i]);
  }
}

TEST(AttentionDecode, DefaultScaleIsInverseSqrtHeadDim) {
  DecodeProblem pb({2, 2, 16, 9}, 400);
  const auto by_default = run_decode(pb);
  pb.scale = 1.0f / std::sqrt(16.0f);
  EXPECT_EQ(run_decode(pb), by_default);
}

TEST(AttentionDecode, WithoutCheckBoundsLengthsAreClamped) {
  hk::Device fast = kCpu;
  fast.check_bounds = false;
  DecodeProblem pb({2, 1, 4, 5}, 500);
  pb.lengths = {0, 9};
  const auto out = run_decode(pb, fast);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], 0.0f);
  pb.lengths = {1, 5};
  const auto full = run_decode(pb);
  for (int i = 4; i < 8; ++i) EXPECT_EQ(out[i], full[i]);
}

TEST(AttentionDecode, RejectsBadLengthsSizesAndPointers) {
  DecodeProblem pb({2, 2, 4, 6}, 600);
  std::vector<float> out(pb.out_size());
  auto p = pb.params();
  p.q = pb.q.data();
  p.k_cache = pb.k.data();
  p.v_cache = pb.v.data();
  p.lengths = pb.lengths.data();
  p.out = out.data();
  const std::string op = "attention_decode_forward: ";
  for (std::int64_t bad : {std::int64_t{0}, std::int64_t{7}, std::int64_t{-2}}) {
    std::vector<std::int64_t> lengths = {3, bad};
    auto q = p;
    q.lengths = lengths.data();
    expect_error([&] { hk::attention_decode_forward(kCpu, q); },
                 op + "lengths[1] = " + std::to_string(bad) + " out of range [1, max_len = 6]");
  }
  auto q = p;
  q.head_dim = 0;
  expect_error([&] { hk::attention_decode_forward(kCpu, q); }, op + "head_dim 0 must be positive");
  q = p;
  q.max_len = 0;
  expect_error([&] { hk::attention_decode_forward(kCpu, q); }, op + "max_len 0 must be positive");
  q = p;
  q.batch = -1;
  expect_error([&] { hk::attention_decode_forward(kCpu, q); }, op + "batch -1 must be >= 0");
  q = p;
  q.v_cache = nullptr;
  expect_error([&] { hk::attention_decode_forward(kCpu, q); }, op + "v_cache is null");
  q = p;
  q.out = const_cast<float*>(p.q);
  expect_error([&] { hk::attention_decode_forward(kCpu, q); }, op + "out aliases q");
  q = p;
  q.scale = std::numeric_limits<float>::infinity();
  expect_error([&] { hk::attention_decode_forward(kCpu, q); }, "is not finite");
  // An empty batch is a no-op, null pointers and all.
  hk::AttentionDecodeParams empty = pb.params();
  empty.batch = 0;
  hk::attention_decode_forward(kCpu, empty);
}

TEST(AttentionDecode, SupportIsReported) {
  DecodeProblem pb({1, 1, 256, 3}, 700);
  EXPECT_TRUE(hk::attention_decode_supports(kCpu, pb.params()));
  EXPECT_EQ(hk::attention_decode_supports(hk::Device::cuda(), pb.params()), hk::cuda_compiled());
  auto p = pb.params();
  p.head_dim = hk::kMaxDecodeHeadDimCuda + 1;
  EXPECT_TRUE(hk::attention_decode_supports(kCpu, p));
  EXPECT_FALSE(hk::attention_decode_supports(hk::Device::cuda(), p));
  p.max_len = 0;
  EXPECT_FALSE(hk::attention_decode_supports(kCpu, p));
  if (hk::cuda_compiled()) {
    std::vector<float> out(p.heads * p.head_dim);
    p.max_len = 3;
    expect_error([&] { hk::attention_decode_forward(hk::Device::cuda(), p); },
                 "head_dim 257 is not supported by the CUDA backend (at most 256)");
  }
}

}  // namespace

// CPU attention against a naive double reference (explicit L x L scores),
// its backward against central finite differences, and the argument checks.
#include "hybrec/kernels/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "attention_problem.h"
#include "testing.h"

namespace hybrec {
namespace {

using kernels::AttentionParams;
using kernels::Device;
using testing::AttentionProblem;
using testing::AttentionShape;
using testing::Padding;

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

struct Reference {
  std::vector<double> out, lse, dq, dk, dv;
};

std::size_t at(const AttentionShape& s, std::int64_t b, std::int64_t l, std::int64_t h,
               std::int64_t d) {
  return static_cast<std::size_t>(((b * s.seq_len + l) * s.heads + h) * s.head_dim + d);
}

bool attends(const AttentionShape& s, const std::vector<std::uint8_t>& mask, std::int64_t b,
             std::int64_t i, std::int64_t j) {
  if (s.causal && j > i) return false;
  return mask.empty() || mask[static_cast<std::size_t>(b * s.seq_len + j)] == 0;
}

double scale_of(const AttentionShape& s, double scale) {
  return scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(s.head_dim));
}

// Probabilities of query i of head (b, h) over all keys, written for clarity:
// explicit scores, max-subtracted exponentials, zero for masked keys. Returns
// the log-sum-exp (-inf when every key is masked, then p is all zeros).
double reference_probabilities(const AttentionShape& s, const std::vector<std::uint8_t>& mask,
                               double scale, const std::vector<double>& q,
                               const std::vector<double>& k, std::int64_t b, std::int64_t h,
                               std::int64_t i, std::vector<double>& p) {
  const std::int64_t L = s.seq_len;
  std::vector<double> score(static_cast<std::size_t>(L), kNegInf);
  double mx = kNegInf;
  for (std::int64_t j = 0; j < L; ++j) {
    if (!attends(s, mask, b, i, j)) continue;
    double dot = 0;
    for (std::int64_t d = 0; d < s.head_dim; ++d)
      dot += q[at(s, b, i, h, d)] * k[at(s, b, j, h, d)];
    score[j] = scale * dot;
    mx = std::max(mx, score[j]);
  }
  p.assign(static_cast<std::size_t>(L), 0.0);
  if (mx == kNegInf) return kNegInf;
  double sum = 0;
  for (std::int64_t j = 0; j < L; ++j) {
    if (score[j] != kNegInf) sum += std::exp(score[j] - mx);
  }
  for (std::int64_t j = 0; j < L; ++j) {
    if (score[j] != kNegInf) p[j] = std::exp(score[j] - mx) / sum;
  }
  return mx + std::log(sum);
}

Reference reference_forward(const AttentionShape& s, const std::vector<std::uint8_t>& mask,
                            double scale, const std::vector<double>& q,
                            const std::vector<double>& k, const std::vector<double>& v) {
  scale = scale_of(s, scale);
  Reference r;
  r.out.assign(q.size(), 0.0);
  r.lse.assign(static_cast<std::size_t>(s.batch * s.heads * s.seq_len), 0.0);
  std::vector<double> p;
  for (std::int64_t b = 0; b < s.batch; ++b) {
    for (std::int64_t h = 0; h < s.heads; ++h) {
      for (std::int64_t i = 0; i < s.seq_len; ++i) {
        r.lse[static_cast<std::size_t>((b * s.heads + h) * s.seq_len + i)] =
            reference_probabilities(s, mask, scale, q, k, b, h, i, p);
        for (std::int64_t j = 0; j < s.seq_len; ++j) {
          for (std::int64_t d = 0; d < s.head_dim; ++d) {
            r.out[at(s, b, i, h, d)] += p[j] * v[at(s, b, j, h, d)];
          }
        }
      }
    }
  }
  return r;
}

// The textbook backward of softmax attention with an explicit L x L P:
// dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dP * P)), dQ = scale dS K,
// dK = scale dS^T Q.
Reference reference_backward(const AttentionShape& s, const std::vector<std::uint8_t>& mask,
                             double scale, const std::vector<double>& q,
                             const std::vector<double>& k, const std::vector<double>& v,
                             const std::vector<double>& dout) {
  scale = scale_of(s, scale);
  const std::int64_t L = s.seq_len;
  Reference r;
  r.dq.assign(q.size(), 0.0);
  r.dk.assign(q.size(), 0.0);
  r.dv.assign(q.size(), 0.0);
  std::vector<double> p;
  for (std::int64_t b = 0; b < s.batch; ++b) {
    for (std::int64_t h = 0; h < s.heads; ++h) {
      for (std::int64_t i = 0; i < L; ++i) {
        reference_probabilities(s, mask, scale, q, k, b, h, i, p);
        std::vector<double> dp(static_cast<std::size_t>(L), 0.0);
        double p_dot_dp = 0;
        for (std::int64_t j = 0; j < L; ++j) {
          for (std::int64_t d = 0; d < s.head_dim; ++d) {
            dp[j] += dout[at(s, b, i, h, d)] * v[at(s, b, j, h, d)];
            r.dv[at(s, b, j, h, d)] += p[j] * dout[at(s, b, i, h, d)];
          }
          p_dot_dp += p[j] * dp[j];
        }
        for (std::int64_t j = 0; j < L; ++j) {
          const double ds = p[j] * (dp[j] - p_dot_dp);
          for (std::int64_t d = 0; d < s.head_dim; ++d) {
            r.dq[at(s, b, i, h, d)] += scale * ds * k[at(s, b, j, h, d)];
            r.dk[at(s, b, j, h, d)] += scale * ds * q[at(s, b, i, h, d)];
          }
        }
      }
    }
  }
  return r;
}

// The scalar whose gradients the backward computes: sum(out * dout).
double reference_loss(const AttentionProblem& pb, const std::vector<double>& q,
                      const std::vector<double>& k, const std::vector<double>& v) {
  const auto out = reference_forward(pb.shape, pb.mask, pb.scale, q, k, v).out;
  double loss = 0;
  for (std::size_t i = 0; i < out.size(); ++i) loss += out[i] * static_cast<double>(pb.dout[i]);
  return loss;
}

struct FiniteDifferences {
  std::vector<double> dq, dk, dv;
};

FiniteDifferences finite_differences(const AttentionProblem& pb) {
  const auto q = testing::to_double(pb.q), k = testing::to_double(pb.k),
             v = testing::to_double(pb.v);
  FiniteDifferences fd;
  fd.dq = testing::numeric_gradient(
      [&](const std::vector<double>& x) { return reference_loss(pb, x, k, v); }, q);
  fd.dk = testing::numeric_gradient(
      [&](const std::vector<double>& x) { return reference_loss(pb, q, x, v); }, k);
  fd.dv = testing::numeric_gradient(
      [&](const std::vector<double>& x) { return reference_loss(pb, q, k, x); }, v);
  return fd;
}

constexpr double kOutAtol = 2e-5, kOutRtol = 1e-4;
constexpr double kGradAtol = 1e-4, kGradRtol = 1e-3;

// Lengths 1, 2, 7, 33, 64, 130 (not tile multiples), head dims 32/64/128 and an
// odd one, heads 1..4, batch 1..3, causal on and off, every padding pattern.
std::vector<AttentionShape> shape_table() {
  std::vector<AttentionShape> shapes;
  const std::int64_t lengths[] = {1, 2, 7, 33, 64, 130};
  const std::int64_t dims[] = {5, 32, 64, 128};
  int n = 0;
  for (std::int64_t L : lengths) {
    for (std::int64_t D : dims) {
      for (bool causal : {false, true}) {
        const Padding pad = n % 3 == 0   ? Padding::kMixed
                            : n % 3 == 1 ? Padding::kNone
                                         : Padding::kRandom;
        const std::int64_t batch = pad == Padding::kMixed ? 3 : 1 + n % 3;
        const std::int64_t heads = 1 + n % 4;
        // Keep the O(L^2) double reference cheap at the largest sizes.
        if (L * D * heads * batch > 130 * 64 * 6) continue;
        shapes.push_back({batch, L, heads, D, causal, pad});
        ++n;
      }
    }
  }
  return shapes;
}

TEST(Attention, ForwardMatchesNaiveReference) {
  std::uint64_t seed = 100;
  for (const auto& shape : shape_table()) {
    SCOPED_TRACE(::testing::Message() << shape);
    const AttentionProblem pb(shape, seed++);
    const auto got = testing::run_cpu_attention(pb, /*backward=*/false);
    const auto ref = reference_forward(shape, pb.mask, pb.scale, testing::to_double(pb.q),
                                       testing::to_double(pb.k), testing::to_double(pb.v));
    EXPECT_TRUE(testing::all_close(got.out, ref.out, kOutAtol, kOutRtol));
    EXPECT_TRUE(testing::lse_close(got.lse, ref.lse, kOutAtol, kOutRtol));
  }
}

TEST(Attention, BackwardMatchesNaiveReference) {
  std::uint64_t seed = 200;
  for (const auto& shape : shape_table()) {
    SCOPED_TRACE(::testing::Message() << shape);
    const AttentionProblem pb(shape, seed++);
    const auto got = testing::run_cpu_attention(pb);
    const auto ref = reference_backward(shape, pb.mask, pb.scale, testing::to_double(pb.q),
                                        testing::to_double(pb.k), testing::to_double(pb.v),
                                        testing::to_double(pb.dout));
    EXPECT_TRUE(testing::all_close(got.dq, ref.dq, kGradAtol, kGradRtol)) << "dq";
    EXPECT_TRUE(testing::all_close(got.dk, ref.dk, kGradAtol, kGradRtol)) << "dk";
    EXPECT_TRUE(testing::all_close(got.dv, ref.dv, kGradAtol, kGradRtol)) << "dv";
  }
}

// Small shapes with every masking feature, including fully masked queries.
const AttentionShape kGradientShapes[] = {
    {1, 1, 1, 4, false, Padding::kNone},  {2, 5, 2, 3, false, Padding::kNone},
    {3, 7, 2, 5, true, Padding::kMixed},  {2, 6, 1, 4, false, Padding::kRandom},
    {3, 6, 3, 2, false, Padding::kMixed}, {1, 33, 1, 8, true, Padding::kRandom},
};

TEST(AttentionReference, BackwardMatchesFiniteDifferences) {
  std::uint64_t seed = 300;
  for (const auto& shape : kGradientShapes) {
    SCOPED_TRACE(::testing::Message() << shape);
    const AttentionProblem pb(shape, seed++);
    const auto fd = finite_differences(pb);
    const auto ref = reference_backward(shape, pb.mask, pb.scale, testing::to_double(pb.q),
                                        testing::to_double(pb.k), testing::to_double(pb.v),
                                        testing::to_double(pb.dout));
    EXPECT_TRUE(testing::all_close(ref.dq, fd.dq, 1e-7, 1e-6)) << "dq";
    EXPECT_TRUE(testing::all_close(ref.dk, fd.dk, 1e-7, 1e-6)) << "dk";
    EXPECT_TRUE(testing::all_close(ref.dv, fd.dv, 1e-7, 1e-6)) << "dv";
  }
}

TEST(Attention, BackwardMatchesFiniteDifferences) {
  std::uint64_t seed = 400;
  for (const auto& shape : kGradientShapes) {
    SCOPED_TRACE(::testing::Message() << shape);
    AttentionProblem pb(shape, seed++);
    pb.scale = 0.7f;  // a non-default scale must flow through dq and dk
    const auto fd = finite_differences(pb);
    const auto got = testing::run_cpu_attention(pb);
    EXPECT_TRUE(testing::all_close(got.dq, fd.dq, kGradAtol, kGradRtol)) << "dq";
    EXPECT_TRUE(testing::all_close(got.dk, fd.dk, kGradAtol, kGradRtol)) << "dk";
    EXPECT_TRUE(testing::all_close(got.dv, fd.dv, kGradAtol, kGradRtol)) << "dv";
  }
}

TEST(Attention, FullyMaskedQueryGivesZeroOutputMinusInfLseAndZeroGradients) {
  // Sequence 2 is all padded; in sequence 1 key 0 is padded, so causal query 0
  // of it has no key at all.
  const AttentionShape shape{3, 9, 2, 4, true, Padding::kMixed};
  const AttentionProblem pb(shape, 7);
  const auto got = testing::run_cpu_attention(pb);
  const auto row_is_zero = [&](const std::vector<float>& x, std::int64_t b, std::int64_t l,
                               std::int64_t h) {
    for (std::int64_t d = 0; d < shape.head_dim; ++d) {
      if (x[at(shape, b, l, h, d)] != 0.0f) return false;
    }
    return true;
  };
  for (std::int64_t h = 0; h < shape.heads; ++h) {
    for (std::int64_t l = 0; l < shape.seq_len; ++l) {
      EXPECT_TRUE(row_is_zero(got.out, 2, l, h));
      EXPECT_TRUE(row_is_zero(got.dq, 2, l, h));
      EXPECT_TRUE(row_is_zero(got.dk, 2, l, h));
      EXPECT_TRUE(row_is_zero(got.dv, 2, l, h));
      EXPECT_EQ(got.lse[static_cast<std::size_t>((2 * shape.heads + h) * shape.seq_len + l)],
                -std::numeric_limits<float>::infinity());
    }
    EXPECT_TRUE(row_is_zero(got.out, 1, 0, h));
    EXPECT_TRUE(row_is_zero(got.dq, 1, 0, h));
    EXPECT_EQ(got.lse[static_cast<std::size_t>((1 * shape.heads + h) * shape.seq_len)],
              -std::numeric_limits<float>::infinity());
    // Padded keys receive no gradient.
    EXPECT_TRUE(row_is_zero(got.dk, 1, 0, h));
    EXPECT_TRUE(row_is_zero(got.dv, 1, shape.seq_len - 1, h));
  }
  for (const auto* x : {&got.out, &got.dq, &got.dk, &got.dv}) {
    for (float value : *x) ASSERT_TRUE(std::isfinite(value));
  }
}

TEST(Attention, CausalQueryIgnoresLaterKeys) {
  // Changing the last key and value must not move any output but the last.
  const AttentionShape shape{1, 6, 1, 4, true, Padding::kNone};
  AttentionProblem pb(shape, 11);
  const auto before = testing::run_cpu_attention(pb, false);
  for (std::int64_t d = 0; d < shape.head_dim; ++d) {
    pb.k[at(shape, 0, 5, 0, d)] += 3.0f;
    pb.v[at(shape, 0, 5, 0, d)] -= 2.0f;
  }
  const auto after = testing::run_cpu_attention(pb, false);
  for (std::int64_t l = 0; l < 5; ++l) {
    for (std::int64_t d = 0; d < shape.head_dim; ++d) {
      EXPECT_EQ(before.out[at(shape, 0, l, 0, d)], after.out[at(shape, 0, l, 0, d)]);
    }
  }
  EXPECT_NE(before.out[at(shape, 0, 5, 0, 0)], after.out[at(shape, 0, 5, 0, 0)]);
}

TEST(Attention, BackwardOverwritesGradientBuffers) {
  const AttentionShape shape{2, 7, 2, 5, false, Padding::kMixed};
  const AttentionProblem pb(shape, 13);
  auto clean = testing::run_cpu_attention(pb);
  auto p = pb.params();
  p.key_padding_mask = pb.mask.data();
  p.q = pb.q.data();
  p.k = pb.k.data();
  p.v = pb.v.data();
  p.out = clean.out.data();
  p.lse = clean.lse.data();
  p.dout = pb.dout.data();
  std::vector<float> dq(pb.q.size(), NAN), dk(pb.q.size(), 5.0f), dv(pb.q.size(), -7.0f);
  p.dq = dq.data();
  p.dk = dk.data();
  p.dv = dv.data();
  kernels::attention_backward(Device::cpu(), p);
  EXPECT_EQ(dq, clean.dq);
  EXPECT_EQ(dk, clean.dk);
  EXPECT_EQ(dv, clean.dv);
}

TEST(Attention, DefaultScaleIsInverseSqrtHeadDim) {
  AttentionParams p;
  p.head_dim = 64;
  EXPECT_FLOAT_EQ(kernels::attention_scale(p), 0.125f);
  p.scale = 0.3f;
  EXPECT_FLOAT_EQ(kernels::attention_scale(p), 0.3f);
  // An explicit scale reaches the forward.
  AttentionProblem pb({1, 5, 1, 3, false, Padding::kNone}, 17);
  pb.scale = 2.5f;
  const auto got = testing::run_cpu_attention(pb, false);
  const auto ref = reference_forward(pb.shape, pb.mask, pb.scale, testing::to_double(pb.q),
                                     testing::to_double(pb.k), testing::to_double(pb.v));
  EXPECT_TRUE(testing::all_close(got.out, ref.out, kOutAtol, kOutRtol));
}

// --- argument checks --------------------------------------------------------

struct Buffers {
  std::vector<float> q, k, v, out, lse, dout, dq, dk, dv;
  explicit Buffers(std::size_t n, std::size_t rows)
      : q(n), k(n), v(n), out(n), lse(rows), dout(n), dq(n), dk(n), dv(n) {}
  AttentionParams params(std::int64_t B, std::int64_t L, std::int64_t H, std::int64_t D) {
    AttentionParams p;
    p.batch = B;
    p.seq_len = L;
    p.heads = H;
    p.head_dim = D;
    p.q = q.data();
    p.k = k.data();
    p.v = v.data();
    p.out = out.data();
    p.lse = lse.data();
    p.dout = dout.data();
    p.dq = dq.data();
    p.dk = dk.data();
    p.dv = dv.data();
    return p;
  }
};

// The hybrec::Error message of fn, or a marker when it does not throw one.
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no hybrec::Error thrown)";
}

#define EXPECT_ERROR_CONTAINS(statement, text)                     \
  do {                                                             \
    const std::string message_ = error_of([&] { statement; });     \
    EXPECT_NE(message_.find(text), std::string::npos) << message_; \
  } while (0)

TEST(Attention, RejectsNonPositiveSizesNamingTheValue) {
  Buffers buf(64, 16);
  struct Case {
    std::int64_t B, L, H, D;
    const char* expected;
  } cases[] = {{0, 2, 2, 4, "batch 0"},
               {1, -3, 2, 4, "seq_len -3"},
               {1, 2, 0, 4, "heads 0"},
               {1, 2, 2, -1, "head_dim -1"}};
  for (const auto& c : cases) {
    const auto p = buf.params(c.B, c.L, c.H, c.D);
    EXPECT_ERROR_CONTAINS(kernels::attention_forward(Device::cpu(), p), c.expected);
    EXPECT_ERROR_CONTAINS(kernels::attention_backward(Device::cpu(), p), c.expected);
  }
}

TEST(Attention, RejectsNullAndAliasedPointers) {
  Buffers buf(64, 16);
  auto p = buf.params(1, 4, 2, 8);
  p.v = nullptr;
  EXPECT_ERROR_CONTAINS(kernels::attention_forward(Device::cpu(), p), "v is null");
  p = buf.params(1, 4, 2, 8);
  p.dq = nullptr;
  EXPECT_ERROR_CONTAINS(kernels::attention_backward(Device::cpu(), p), "dq is null");
  p = buf.params(1, 4, 2, 8);
  p.out = buf.q.data();
  EXPECT_ERROR_CONTAINS(kernels::attention_forward(Device::cpu(), p), "out aliases q");
  p = buf.params(1, 4, 2, 8);
  p.dk = p.dq;
  EXPECT_ERROR_CONTAINS(kernels::attention_backward(Device::cpu(), p), "dq aliases dk");
}

TEST(Attention, CudaSupportIsReportedAndUnsupportedSizesAreNamed) {
  AttentionParams p;
  p.batch = 2;
  p.seq_len = 100;
  p.heads = 2;
  p.head_dim = 48;
  EXPECT_TRUE(kernels::attention_supports(Device::cpu(), p));
  EXPECT_FALSE(kernels::attention_supports(Device::cuda(), p));
  p.head_dim = 64;
  EXPECT_EQ(kernels::attention_supports(Device::cuda(), p), kernels::cuda_compiled());
  p.seq_len = 513;
  EXPECT_FALSE(kernels::attention_supports(Device::cuda(), p));
  EXPECT_TRUE(kernels::attention_supports(Device::cpu(), p));
  p.seq_len = 0;
  EXPECT_FALSE(kernels::attention_supports(Device::cpu(), p));

  // The api names the unsupported value before it touches any pointer.
  Buffers buf(2 * 100 * 2 * 48, 2 * 2 * 100);
  auto bad_dim = buf.params(2, 100, 2, 48);
  EXPECT_ERROR_CONTAINS(kernels::attention_forward(Device::cuda(), bad_dim), "head_dim 48");
  EXPECT_ERROR_CONTAINS(kernels::attention_backward(Device::cuda(), bad_dim), "head_dim 48");
  auto bad_len = buf.params(1, 513, 1, 32);
  EXPECT_ERROR_CONTAINS(kernels::attention_forward(Device::cuda(), bad_len), "seq_len 513");
}

}  // namespace
}  // namespace hybrec

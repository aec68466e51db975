// CUDA dense ops against the CPU backend on the same inputs, with the
// tolerances stated in hybrec/kernels/dense.h. Shapes cover both row-group
// sizes and the block-per-row path (dim 2048), float4 and scalar paths
// (misaligned pointers), grid-stride loops (1M-element losses), in-place
// calls and bit-for-bit repeatability of the fixed-order reductions.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "hybrec/kernels/dense.h"
#include "testing.h"

namespace hk = hybrec::kernels;
using hybrec::testing::all_close;
using hybrec::testing::random_floats;

namespace {

const hk::Device kCpu = hk::Device::cpu();
const hk::Device kGpu = hk::Device::cuda();

// The tolerances of dense.h (|cuda - cpu| <= atol + rtol * |cpu|).
constexpr double kLinearAtolPerTerm = 1e-6, kLinearRtol = 1e-4;
constexpr double kNormAtol = 1e-5, kNormRtol = 1e-5, kNormParamAtolPerRow = 1e-6;
constexpr double kAtol = 1e-6, kRtol = 1e-5;

// A device copy of a host array; `misalign` shifts it by one float so the
// kernels must take their scalar (non-float4) path.
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<float>& host, bool misalign = false)
      : offset_(misalign ? 1 : 0), count_(host.size()), buffer_(kGpu, host.size() + offset_) {
    if (count_ > 0) hk::copy_to_device(kGpu, data(), host.data(), count_ * sizeof(float));
  }
  explicit DeviceArray(std::size_t count, bool misalign = false)
      : DeviceArray(std::vector<float>(count, 0.0f), misalign) {}
  float* data() { return count_ == 0 ? nullptr : buffer_.data() + offset_; }
  std::vector<float> download() {
    std::vector<float> host(count_);
    if (count_ > 0) hk::copy_to_host(kGpu, host.data(), data(), count_ * sizeof(float));
    return host;
  }

 private:
  std::size_t offset_, count_;
  hk::Buffer<float> buffer_;
};

float download_scalar(DeviceArray& a) { return a.download().at(0); }

// ---------------------------------------------------------------------------

struct LinearShape {
  int64_t n, in, out;
};

const LinearShape kLinearShapes[] = {{0, 3, 4},    {1, 1, 1},       {3, 3, 33},      {33, 33, 3},
                                     {7, 1000, 5}, {4096, 64, 256}, {4096, 256, 64}, {5, 3, 1000}};

TEST(DenseGpu, LinearForwardMatchesCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (const auto& s : kLinearShapes) {
    for (bool with_bias : {true, false}) {
      SCOPED_TRACE(testing::Message()
                   << "n=" << s.n << " in=" << s.in << " out=" << s.out << " bias=" << with_bias);
      const auto x = random_floats(s.n * s.in, 1), w = random_floats(s.out * s.in, 2),
                 b = random_floats(s.out, 3);
      std::vector<float> y(s.n * s.out);
      hk::LinearParams p{s.n, s.in, s.out};
      p.x = x.data();
      p.weight = w.data();
      p.bias = with_bias ? b.data() : nullptr;
      p.y = y.data();
      hk::linear_forward(kCpu, p);
      DeviceArray dx(x), dw(w), db(b), dy(y.size());
      p.x = dx.data();
      p.weight = dw.data();
      p.bias = with_bias ? db.data() : nullptr;
      p.y = dy.data();
      hk::linear_forward(kGpu, p);
      EXPECT_TRUE(all_close(dy.download(), y, kLinearAtolPerTerm * s.in, kLinearRtol));
    }
  }
}

TEST(DenseGpu, LinearBackwardMatchesCpuAndAccumulates) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (const auto& s : kLinearShapes) {
    SCOPED_TRACE(testing::Message() << "n=" << s.n << " in=" << s.in << " out=" << s.out);
    const auto x = random_floats(s.n * s.in, 11), w = random_floats(s.out * s.in, 12),
               g = random_floats(s.n * s.out, 13);
    // Non-zero starting gradients: the op must add to them.
    auto dw = random_floats(s.out * s.in, 14), db = random_floats(s.out, 15);
    std::vector<float> dx(s.n * s.in);
    DeviceArray d_x(x), d_w(w), d_g(g), d_dw(dw), d_db(db), d_dx(dx.size());
    hk::LinearParams p{s.n, s.in, s.out};
    p.x = x.data();
    p.weight = w.data();
    p.dy = g.data();
    p.dx = dx.data();
    p.dweight = dw.data();
    p.dbias = db.data();
    hk::linear_backward(kCpu, p);
    p.x = d_x.data();
    p.weight = d_w.data();
    p.dy = d_g.data();
    p.dx = d_dx.data();
    p.dweight = d_dw.data();
    p.dbias = d_db.data();
    hk::linear_backward(kGpu, p);
    EXPECT_TRUE(all_close(d_dx.download(), dx, kLinearAtolPerTerm * s.out, kLinearRtol));
    const double rows = static_cast<double>(std::max<int64_t>(s.n, 1));
    EXPECT_TRUE(all_close(d_dw.download(), dw, kLinearAtolPerTerm * rows, kLinearRtol));
    EXPECT_TRUE(all_close(d_db.download(), db, kLinearAtolPerTerm * rows, kLinearRtol));
  }
}

TEST(DenseGpu, LinearBackwardTwiceDoublesParameterGradients) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const int64_t n = 300, in = 33, out = 17;
  DeviceArray x(random_floats(n * in, 21)), g(random_floats(n * out, 22)), dw(out * in), db(out);
  hk::LinearParams p{n, in, out};
  p.x = x.data();
  p.dy = g.data();
  p.dweight = dw.data();
  p.dbias = db.data();
  hk::linear_backward(kGpu, p);  // dx == nullptr: weight not needed
  const auto dw_once = dw.download(), db_once = db.download();
  hk::linear_backward(kGpu, p);
  const auto dw_twice = dw.download(), db_twice = db.download();
  for (std::size_t i = 0; i < dw_once.size(); ++i) EXPECT_FLOAT_EQ(dw_twice[i], 2 * dw_once[i]);
  for (std::size_t i = 0; i < db_once.size(); ++i) EXPECT_FLOAT_EQ(db_twice[i], 2 * db_once[i]);
}

// ---------------------------------------------------------------------------

struct RowShape {
  int64_t n, dim;
  bool misalign;
};

const RowShape kRowShapes[] = {{0, 8, false},    {1, 1, false},     {3, 3, false},
                               {7, 33, false},   {1000, 64, false}, {1000, 64, true},
                               {17, 100, false}, {5, 1000, false},  {9, 1024, true},
                               {3, 2048, false}, {2, 2050, false},  {40000, 16, false}};

TEST(DenseGpu, LayerNormMatchesCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (const auto& s : kRowShapes) {
    SCOPED_TRACE(testing::Message()
                 << "n=" << s.n << " dim=" << s.dim << " misalign=" << s.misalign);
    const auto x = random_floats(s.n * s.dim, 31, -3.0f, 3.0f), gamma = random_floats(s.dim, 32),
               beta = random_floats(s.dim, 33), g = random_floats(s.n * s.dim, 34);
    std::vector<float> y(x.size()), mean(s.n), rstd(s.n), dx(x.size());
    auto dgamma = random_floats(s.dim, 35), dbeta = random_floats(s.dim, 36);
    hk::LayerNormParams p{s.n, s.dim};
    p.x = x.data();
    p.gamma = gamma.data();
    p.beta = beta.data();
    p.y = y.data();
    p.mean = mean.data();
    p.rstd = rstd.data();
    p.dy = g.data();
    p.dx = dx.data();
    p.dgamma = dgamma.data();
    p.dbeta = dbeta.data();
    DeviceArray d_x(x, s.misalign), d_gamma(gamma, s.misalign), d_beta(beta, s.misalign),
        d_y(y.size(), s.misalign), d_mean(mean.size()), d_rstd(rstd.size()), d_g(g, s.misalign),
        d_dx(dx.size(), s.misalign), d_dgamma(dgamma), d_dbeta(dbeta);
    hk::layer_norm_forward(kCpu, p);
    hk::layer_norm_backward(kCpu, p);
    hk::LayerNormParams q = p;
    q.x = d_x.data();
    q.gamma = d_gamma.data();
    q.beta = d_beta.data();
    q.y = d_y.data();
    q.mean = d_mean.data();
    q.rstd = d_rstd.data();
    hk::layer_norm_forward(kGpu, q);
    EXPECT_TRUE(all_close(d_y.download(), y, kNormAtol, kNormRtol));
    EXPECT_TRUE(all_close(d_mean.download(), mean, kNormAtol, kNormRtol));
    EXPECT_TRUE(all_close(d_rstd.download(), rstd, kNormAtol, kNormRtol));
    // Backward from the CPU's saved statistics, so only the backward differs.
    DeviceArray cpu_mean(mean), cpu_rstd(rstd);
    q.mean = cpu_mean.data();
    q.rstd = cpu_rstd.data();
    q.dy = d_g.data();
    q.dx = d_dx.data();
    q.dgamma = d_dgamma.data();
    q.dbeta = d_dbeta.data();
    hk::layer_norm_backward(kGpu, q);
    const double param_atol = kNormParamAtolPerRow * static_cast<double>(std::max<int64_t>(s.n, 1));
    EXPECT_TRUE(all_close(d_dx.download(), dx, kNormAtol, kNormRtol));
    EXPECT_TRUE(all_close(d_dgamma.download(), dgamma, param_atol, kNormRtol));
    EXPECT_TRUE(all_close(d_dbeta.download(), dbeta, param_atol, kNormRtol));
  }
}

TEST(DenseGpu, LayerNormBackwardInPlaceIsBitwiseRepeatable) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const int64_t n = 20000, dim = 64;
  const auto x = random_floats(n * dim, 41), g = random_floats(n * dim, 42);
  DeviceArray d_x(x), gamma(random_floats(dim, 43)), beta(random_floats(dim, 44)), y(n * dim),
      mean(n), rstd(n);
  hk::LayerNormParams p{n, dim};
  p.x = d_x.data();
  p.gamma = gamma.data();
  p.beta = beta.data();
  p.y = y.data();
  p.mean = mean.data();
  p.rstd = rstd.data();
  hk::layer_norm_forward(kGpu, p);
  auto run = [&](bool in_place) {
    DeviceArray dy(g), dx(n * dim), dgamma(dim), dbeta(dim);
    p.dy = dy.data();
    p.dx = in_place ? dy.data() : dx.data();
    p.dgamma = dgamma.data();
    p.dbeta = dbeta.data();
    hk::layer_norm_backward(kGpu, p);
    auto out = in_place ? dy.download() : dx.download();
    for (float v : dgamma.download()) out.push_back(v);
    for (float v : dbeta.download()) out.push_back(v);
    return out;
  };
  const auto first = run(false);
  EXPECT_EQ(run(false), first);
  EXPECT_EQ(run(true), first);
}

// ---------------------------------------------------------------------------

TEST(DenseGpu, GeluMatchesCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (int64_t count : {0, 1, 3, 33, 1000, (1 << 20) + 3}) {
    for (bool misalign : {false, true}) {
      SCOPED_TRACE(testing::Message() << "count=" << count << " misalign=" << misalign);
      const auto x = random_floats(count, 51, -8.0f, 8.0f), g = random_floats(count, 52);
      std::vector<float> y(count), dx(count);
      hk::gelu_forward(kCpu, x.data(), count, y.data());
      hk::gelu_backward(kCpu, x.data(), g.data(), count, dx.data());
      DeviceArray d_x(x, misalign), d_g(g, misalign), d_y(count, misalign);
      hk::gelu_forward(kGpu, d_x.data(), count, d_y.data());
      EXPECT_TRUE(all_close(d_y.download(), y, kAtol, kRtol));
      hk::gelu_backward(kGpu, d_x.data(), d_g.data(), count, d_g.data());  // in place on dy
      EXPECT_TRUE(all_close(d_g.download(), dx, kAtol, kRtol));
    }
  }
}

// ---------------------------------------------------------------------------

TEST(DenseGpu, SoftmaxMatchesCpuInPlace) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (const auto& s : kRowShapes) {
    SCOPED_TRACE(testing::Message() << "n=" << s.n << " c=" << s.dim << " misalign=" << s.misalign);
    // Wide range: the largest logits are ~80, where exp overflows without the max shift.
    const auto x = random_floats(s.n * s.dim, 61, -80.0f, 80.0f),
               g = random_floats(s.n * s.dim, 62);
    std::vector<float> y(x.size()), dx(x.size());
    hk::softmax_forward(kCpu, x.data(), s.n, s.dim, y.data());
    hk::softmax_backward(kCpu, y.data(), g.data(), s.n, s.dim, dx.data());
    DeviceArray d_xy(x, s.misalign), d_g(g, s.misalign);
    hk::softmax_forward(kGpu, d_xy.data(), s.n, s.dim, d_xy.data());
    EXPECT_TRUE(all_close(d_xy.download(), y, kAtol, kRtol));
    DeviceArray d_y(y, s.misalign);  // the CPU's y, so only the backward differs
    hk::softmax_backward(kGpu, d_y.data(), d_g.data(), s.n, s.dim, d_g.data());
    EXPECT_TRUE(all_close(d_g.download(), dx, kAtol, kRtol));
  }
}

// ---------------------------------------------------------------------------

TEST(DenseGpu, BceWithLogitsMatchesCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  for (int64_t n : {0, 1, 33, 1000, (1 << 20) + 7}) {
    for (bool weighted : {false, true}) {
      SCOPED_TRACE(testing::Message() << "n=" << n << " weighted=" << weighted);
      auto logits = random_floats(n, 71, -10.0f, 10.0f);
      if (n >= 4) logits[0] = 80.0f, logits[1] = -80.0f, logits[2] = 1e4f, logits[3] = -1e4f;
      const auto labels = random_floats(n, 72, 0.0f, 1.0f), w = random_floats(n, 73, 0.0f, 2.0f);
      const float* wp = weighted ? w.data() : nullptr;
      float loss = -1.0f;
      std::vector<float> d(n);
      hk::bce_with_logits_forward(kCpu, logits.data(), labels.data(), wp, n, &loss);
      hk::bce_with_logits_backward(kCpu, logits.data(), labels.data(), wp, n, 0.5f, d.data());
      DeviceArray d_logits(logits), d_labels(labels), d_w(w), d_loss(std::vector<float>{-1.0f});
      float* dwp = weighted ? d_w.data() : nullptr;
      hk::bce_with_logits_forward(kGpu, d_logits.data(), d_labels.data(), dwp, n, d_loss.data());
      EXPECT_TRUE(all_close(d_loss.download(), std::vector<float>{loss}, kAtol, kRtol));
      const float first = download_scalar(d_loss);
      hk::bce_with_logits_forward(kGpu, d_logits.data(), d_labels.data(), dwp, n, d_loss.data());
      EXPECT_EQ(download_scalar(d_loss), first);  // fixed-order reduction
      hk::bce_with_logits_backward(kGpu, d_logits.data(), d_labels.data(), dwp, n, 0.5f,
                                   d_logits.data());  // in place
      EXPECT_TRUE(all_close(d_logits.download(), d,
                            kAtol / static_cast<double>(std::max<int64_t>(n, 1)), kRtol));
    }
  }
}

// ---------------------------------------------------------------------------

TEST(DenseGpu, SampledSoftmaxMatchesCpu) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  const RowShape shapes[] = {{0, 5, false},      {1, 1, false},       {5, 33, false},
                             {4096, 101, false}, {10000, 101, false}, {300, 64, false},
                             {300, 64, true},    {3, 1000, false},    {2, 2048, false}};
  for (const auto& s : shapes) {
    for (bool corrected : {false, true}) {
      SCOPED_TRACE(testing::Message() << "n=" << s.n << " c=" << s.dim << " misalign=" << s.misalign
                                      << " logq=" << corrected);
      const auto logits = random_floats(s.n * s.dim, 81, -80.0f, 80.0f),
                 log_q = random_floats(s.n * s.dim, 82, -12.0f, -1.0f);
      const float* q = corrected ? log_q.data() : nullptr;
      float loss = -1.0f;
      std::vector<float> d(logits.size());
      hk::sampled_softmax_loss_forward(kCpu, logits.data(), q, s.n, s.dim, &loss);
      hk::sampled_softmax_loss_backward(kCpu, logits.data(), q, s.n, s.dim, 2.0f, d.data());
      DeviceArray d_logits(logits, s.misalign), d_q(log_q, s.misalign),
          d_loss(std::vector<float>{-1.0f});
      float* dq = corrected ? d_q.data() : nullptr;
      hk::sampled_softmax_loss_forward(kGpu, d_logits.data(), dq, s.n, s.dim, d_loss.data());
      EXPECT_TRUE(all_close(d_loss.download(), std::vector<float>{loss}, kAtol, kRtol));
      hk::sampled_softmax_loss_backward(kGpu, d_logits.data(), dq, s.n, s.dim, 2.0f,
                                        d_logits.data());  // in place
      const double rows = static_cast<double>(std::max<int64_t>(s.n, 1));
      EXPECT_TRUE(all_close(d_logits.download(), d, kAtol / rows, kRtol));
    }
  }
}

// ---------------------------------------------------------------------------

TEST(DenseGpu, BadArgumentsAreRejectedBeforeLaunch) {
  HYBREC_REQUIRE_CUDA_DEVICE();
  DeviceArray a(16);
  auto expect_error = [](auto&& fn, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "expected hybrec::Error containing \"" << needle << "\"";
    } catch (const hybrec::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([&] { hk::softmax_forward(kGpu, a.data(), 2, -8, a.data()); },
               "softmax_forward: c must be positive, got -8");
  expect_error([&] { hk::bce_with_logits_forward(kGpu, a.data(), nullptr, nullptr, 4, a.data()); },
               "bce_with_logits_forward: labels is null");
  hk::LinearParams p{4, 2, 2};
  p.x = a.data();
  p.y = a.data();
  expect_error([&] { hk::linear_forward(kGpu, p); }, "linear_forward: weight is null");
}

}  // namespace

// CPU dense ops against naive double references (dense_reference.h), every
// backward against central finite differences of a scalar loss
// sum(out * r) with random r, plus the accumulate (+=) contract, in-place
// aliasing, numerical stability at large logits and argument checks.
#include "hybrec/kernels/dense.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <string>
#include <vector>

#include "dense_reference.h"
#include "dense_testing.h"
#include "testing.h"

namespace hk = hybrec::kernels;
namespace ref = hybrec::testing::dense_ref;
// The suites live in the dense helpers' namespace: its names and
// hybrec::testing's need no using-declarations.
namespace hybrec::testing::dense {
namespace {

// ---------------------------------------------------------------------------
// Linear

struct LinearShape {
  int64_t n, in, out;
};

struct LinearCase {
  LinearShape s;
  std::vector<float> x, w, b, dy;
  LinearCase(LinearShape shape, uint64_t seed)
      : s(shape),
        x(random_floats(shape.n * shape.in, seed)),
        w(random_floats(shape.out * shape.in, seed + 1)),
        b(random_floats(shape.out, seed + 2)),
        dy(random_floats(shape.n * shape.out, seed + 3)) {}
  hk::LinearParams params() const {
    hk::LinearParams p;
    p.n = s.n;
    p.in_features = s.in;
    p.out_features = s.out;
    p.x = x.data();
    p.weight = w.data();
    p.bias = b.data();
    p.dy = dy.data();
    return p;
  }
};

const LinearShape kLinearShapes[] = {{0, 3, 4},    {1, 1, 1},    {1, 3, 33},    {5, 33, 3},
                                     {7, 1000, 3}, {3, 64, 256}, {33, 256, 64}, {2, 3, 1000}};

TEST(Linear, ForwardMatchesNaiveReference) {
  for (const auto& shape : kLinearShapes) {
    SCOPED_TRACE(::testing::Message()
                 << "n=" << shape.n << " in=" << shape.in << " out=" << shape.out);
    LinearCase c(shape, 10);
    std::vector<float> y(shape.n * shape.out, -7.0f);
    auto p = c.params();
    p.y = y.data();
    hk::linear_forward(kCpu, p);
    const auto b = to_double(c.b);
    const auto expected =
        ref::linear(to_double(c.x), to_double(c.w), &b, shape.n, shape.in, shape.out);
    EXPECT_TRUE(all_close(y, expected, 1e-5 * shape.in, kRtol));
  }
}

TEST(Linear, ForwardWithoutBiasMatchesReference) {
  LinearCase c({4, 33, 5}, 20);
  std::vector<float> y(4 * 5);
  auto p = c.params();
  p.bias = nullptr;
  p.y = y.data();
  hk::linear_forward(kCpu, p);
  EXPECT_TRUE(
      all_close(y, ref::linear(to_double(c.x), to_double(c.w), nullptr, 4, 33, 5), kAtol, kRtol));
}

// Backward of sum(y * dy): dx = dy W, dW = dy^T x, db = column sums of dy,
// written out naively for the large shapes where finite differences are slow.
TEST(Linear, BackwardMatchesNaiveFormulas) {
  for (const auto& shape : kLinearShapes) {
    SCOPED_TRACE(::testing::Message()
                 << "n=" << shape.n << " in=" << shape.in << " out=" << shape.out);
    LinearCase c(shape, 30);
    std::vector<float> dx(shape.n * shape.in, -7.0f), dw(shape.out * shape.in, 0.0f),
        db(shape.out, 0.0f);
    auto p = c.params();
    p.dx = dx.data();
    p.dweight = dw.data();
    p.dbias = db.data();
    hk::linear_backward(kCpu, p);
    std::vector<double> ex(dx.size(), 0.0), ew(dw.size(), 0.0), eb(db.size(), 0.0);
    for (int64_t r = 0; r < shape.n; ++r) {
      for (int64_t o = 0; o < shape.out; ++o) {
        const double g = c.dy[r * shape.out + o];
        eb[o] += g;
        for (int64_t i = 0; i < shape.in; ++i) {
          ex[r * shape.in + i] += g * c.w[o * shape.in + i];
          ew[o * shape.in + i] += g * c.x[r * shape.in + i];
        }
      }
    }
    EXPECT_TRUE(all_close(dx, ex, 1e-5 * shape.out, kRtol));
    EXPECT_TRUE(all_close(dw, ew, 1e-5 * (shape.n + 1), kRtol));
    EXPECT_TRUE(all_close(db, eb, 1e-5 * (shape.n + 1), kRtol));
  }
}

TEST(Linear, BackwardMatchesFiniteDifferences) {
  const LinearShape shapes[] = {{1, 1, 1}, {3, 33, 3}, {5, 3, 33}, {2, 1, 7}};
  for (const auto& shape : shapes) {
    SCOPED_TRACE(::testing::Message()
                 << "n=" << shape.n << " in=" << shape.in << " out=" << shape.out);
    LinearCase c(shape, 40);
    std::vector<float> dx(shape.n * shape.in), dw(shape.out * shape.in, 0.0f), db(shape.out, 0.0f);
    auto p = c.params();
    p.dx = dx.data();
    p.dweight = dw.data();
    p.dbias = db.data();
    hk::linear_backward(kCpu, p);
    const auto x = to_double(c.x), w = to_double(c.w), b = to_double(c.b), r = to_double(c.dy);
    const int64_t n = shape.n, in = shape.in, out = shape.out;
    EXPECT_TRUE(all_close(
        dx,
        numeric_gradient(
            [&](const auto& v) { return ref::dot(ref::linear(v, w, &b, n, in, out), r); }, x),
        kGradAtol, kGradRtol));
    EXPECT_TRUE(all_close(
        dw,
        numeric_gradient(
            [&](const auto& v) { return ref::dot(ref::linear(x, v, &b, n, in, out), r); }, w),
        kGradAtol, kGradRtol));
    EXPECT_TRUE(all_close(
        db,
        numeric_gradient(
            [&](const auto& v) { return ref::dot(ref::linear(x, w, &v, n, in, out), r); }, b),
        kGradAtol, kGradRtol));
  }
}

TEST(Linear, BackwardAccumulatesParameterGradientsAndOverwritesDx) {
  LinearCase c({6, 5, 4}, 50);
  std::vector<float> dx(6 * 5, 123.0f), dw(4 * 5, 0.0f), db(4, 0.0f);
  auto p = c.params();
  p.dx = dx.data();
  p.dweight = dw.data();
  p.dbias = db.data();
  hk::linear_backward(kCpu, p);
  const auto dx_once = dx, dw_once = dw, db_once = db;
  hk::linear_backward(kCpu, p);
  EXPECT_EQ(dx, dx_once);  // overwritten, not accumulated
  std::vector<double> dw_twice(dw_once.begin(), dw_once.end()),
      db_twice(db_once.begin(), db_once.end());
  for (auto& v : dw_twice) v *= 2;
  for (auto& v : db_twice) v *= 2;
  EXPECT_TRUE(all_close(dw, dw_twice, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(db, db_twice, 1e-6, 1e-6));
}

TEST(Linear, BackwardWithoutDxStillGivesParameterGradients) {
  LinearCase c({3, 4, 2}, 60);
  std::vector<float> dw(2 * 4, 0.0f), dw_ref(2 * 4, 0.0f), dx(3 * 4);
  auto p = c.params();
  p.dweight = dw.data();
  hk::linear_backward(kCpu, p);  // dx and dbias null
  p.dweight = dw_ref.data();
  p.dx = dx.data();
  hk::linear_backward(kCpu, p);
  EXPECT_EQ(dw, dw_ref);
}

TEST(Linear, RejectsBadArguments) {
  LinearCase c({2, 3, 4}, 70);
  std::vector<float> y(8), dw(12);
  auto p = c.params();
  p.y = y.data();
  auto bad = p;
  bad.n = -3;
  expect_error([&] { hk::linear_forward(kCpu, bad); }, "n must be >= 0, got -3");
  bad = p;
  bad.in_features = 0;
  expect_error([&] { hk::linear_forward(kCpu, bad); }, "in_features must be positive, got 0");
  bad = p;
  bad.out_features = -1;
  expect_error([&] { hk::linear_forward(kCpu, bad); }, "out_features must be positive, got -1");
  bad = p;
  bad.weight = nullptr;
  expect_error([&] { hk::linear_forward(kCpu, bad); }, "linear_forward: weight is null");
  bad = p;
  bad.in_features = int64_t{1} << 31;
  expect_error([&] { hk::linear_forward(kCpu, bad); }, "in_features = 2147483648 exceeds");
  bad = p;
  expect_error([&] { hk::linear_backward(kCpu, bad); }, "linear_backward: dweight is null");
  bad.dweight = dw.data();
  bad.dy = nullptr;
  expect_error([&] { hk::linear_backward(kCpu, bad); }, "linear_backward: dy is null");
}

// ---------------------------------------------------------------------------
// Layer norm

struct LayerNormCase {
  int64_t n, dim;
  std::vector<float> x, gamma, beta, dy;
  LayerNormCase(int64_t rows, int64_t d, uint64_t seed, float offset = 0.0f)
      : n(rows),
        dim(d),
        x(random_floats(rows * d, seed, offset - 2.0f, offset + 2.0f)),
        gamma(random_floats(d, seed + 1, 0.5f, 1.5f)),
        beta(random_floats(d, seed + 2)),
        dy(random_floats(rows * d, seed + 3)) {}
  hk::LayerNormParams params() const {
    hk::LayerNormParams p;
    p.n = n;
    p.dim = dim;
    p.x = x.data();
    p.gamma = gamma.data();
    p.beta = beta.data();
    p.dy = dy.data();
    return p;
  }
};

const std::pair<int64_t, int64_t> kRowShapes[] = {{0, 3},  {1, 1},    {1, 3},   {4, 33},
                                                  {3, 64}, {2, 1000}, {300, 5}, {2, 2048}};

TEST(LayerNorm, ForwardMatchesNaiveReferenceAndSavesStatistics) {
  for (const auto& shape : kRowShapes) {
    const int64_t n = shape.first, dim = shape.second;
    SCOPED_TRACE(::testing::Message() << "n=" << n << " dim=" << dim);
    LayerNormCase c(n, dim, 100);
    std::vector<float> y(n * dim), mean(n), rstd(n);
    auto p = c.params();
    p.y = y.data();
    p.mean = mean.data();
    p.rstd = rstd.data();
    hk::layer_norm_forward(kCpu, p);
    const auto e =
        ref::layer_norm(to_double(c.x), to_double(c.gamma), to_double(c.beta), n, dim, p.eps);
    EXPECT_TRUE(all_close(y, e.y, kAtol, kRtol));
    EXPECT_TRUE(all_close(mean, e.mean, kAtol, kRtol));
    EXPECT_TRUE(all_close(rstd, e.rstd, kAtol, kRtol));
  }
}

TEST(LayerNorm, LargeOffsetDoesNotCancelTheVariance) {
  // Rows around 1000 with spread 2: E[x^2] - mean^2 would lose every digit of
  // the variance in float; the two-pass form keeps it.
  LayerNormCase c(3, 64, 110, 1000.0f);
  std::vector<float> y(3 * 64);
  auto p = c.params();
  p.y = y.data();
  hk::layer_norm_forward(kCpu, p);
  const auto e =
      ref::layer_norm(to_double(c.x), to_double(c.gamma), to_double(c.beta), 3, 64, p.eps);
  EXPECT_TRUE(all_close(y, e.y, 1e-3, 1e-3));
}

TEST(LayerNorm, ForwardMayRunInPlace) {
  LayerNormCase c(5, 33, 120);
  std::vector<float> y(5 * 33), inplace = c.x;
  auto p = c.params();
  p.y = y.data();
  hk::layer_norm_forward(kCpu, p);
  p.x = inplace.data();
  p.y = inplace.data();
  hk::layer_norm_forward(kCpu, p);
  EXPECT_EQ(inplace, y);
}

TEST(LayerNorm, BackwardMatchesFiniteDifferences) {
  const std::pair<int64_t, int64_t> shapes[] = {{1, 1}, {1, 3}, {4, 33}, {2, 64}, {2, 1000}};
  for (const auto& shape : shapes) {
    const int64_t n = shape.first, dim = shape.second;
    SCOPED_TRACE(::testing::Message() << "n=" << n << " dim=" << dim);
    LayerNormCase c(n, dim, 130);
    std::vector<float> y(n * dim), mean(n), rstd(n), dx(n * dim), dgamma(dim, 0.0f),
        dbeta(dim, 0.0f);
    auto p = c.params();
    p.y = y.data();
    p.mean = mean.data();
    p.rstd = rstd.data();
    p.dx = dx.data();
    p.dgamma = dgamma.data();
    p.dbeta = dbeta.data();
    hk::layer_norm_forward(kCpu, p);
    hk::layer_norm_backward(kCpu, p);
    const auto x = to_double(c.x), g = to_double(c.gamma), b = to_double(c.beta),
               r = to_double(c.dy);
    const double eps = p.eps;
    auto loss = [&](const auto& xv, const auto& gv, const auto& bv) {
      return ref::dot(ref::layer_norm(xv, gv, bv, n, dim, eps).y, r);
    };
    EXPECT_TRUE(all_close(dx, numeric_gradient([&](const auto& v) { return loss(v, g, b); }, x),
                          kGradAtol, kGradRtol));
    EXPECT_TRUE(all_close(dgamma, numeric_gradient([&](const auto& v) { return loss(x, v, b); }, g),
                          kGradAtol, kGradRtol));
    EXPECT_TRUE(all_close(dbeta, numeric_gradient([&](const auto& v) { return loss(x, g, v); }, b),
                          kGradAtol, kGradRtol));
  }
}

TEST(LayerNorm, BackwardAccumulatesGammaBetaAndMayOverwriteDy) {
  LayerNormCase c(300, 33, 140);
  std::vector<float> y(300 * 33), mean(300), rstd(300), dx(300 * 33), dgamma(33, 0.0f),
      dbeta(33, 0.0f);
  auto p = c.params();
  p.y = y.data();
  p.mean = mean.data();
  p.rstd = rstd.data();
  p.dx = dx.data();
  p.dgamma = dgamma.data();
  p.dbeta = dbeta.data();
  hk::layer_norm_forward(kCpu, p);
  hk::layer_norm_backward(kCpu, p);
  const auto dgamma_once = dgamma, dbeta_once = dbeta;
  // Second call in place (dx == dy) must give the same dx and double the sums.
  std::vector<float> dy_inplace = c.dy;
  p.dy = dy_inplace.data();
  p.dx = dy_inplace.data();
  hk::layer_norm_backward(kCpu, p);
  EXPECT_EQ(dy_inplace, dx);
  for (int64_t j = 0; j < 33; ++j) {
    EXPECT_FLOAT_EQ(dgamma[j], 2 * dgamma_once[j]);
    EXPECT_FLOAT_EQ(dbeta[j], 2 * dbeta_once[j]);
  }
}

TEST(LayerNorm, ParameterGradientsDoNotDependOnThreadCount) {
  LayerNormCase c(5000, 64, 150);
  auto run = [&](int threads) {
    std::vector<float> y(c.x.size()), mean(c.n), rstd(c.n), dx(c.x.size()), dgamma(64, 0.0f),
        dbeta(64, 0.0f);
    auto p = c.params();
    p.y = y.data();
    p.mean = mean.data();
    p.rstd = rstd.data();
    p.dx = dx.data();
    p.dgamma = dgamma.data();
    p.dbeta = dbeta.data();
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    hk::layer_norm_forward(kCpu, p);
    hk::layer_norm_backward(kCpu, p);
    omp_set_num_threads(saved);
    dgamma.insert(dgamma.end(), dbeta.begin(), dbeta.end());
    return dgamma;
  };
  EXPECT_EQ(run(1), run(3));
}

TEST(LayerNorm, RejectsBadArguments) {
  LayerNormCase c(2, 4, 160);
  std::vector<float> y(8);
  auto p = c.params();
  p.y = y.data();
  auto bad = p;
  bad.dim = 0;
  expect_error([&] { hk::layer_norm_forward(kCpu, bad); }, "dim must be positive, got 0");
  bad = p;
  bad.n = -1;
  expect_error([&] { hk::layer_norm_forward(kCpu, bad); }, "n must be >= 0, got -1");
  bad = p;
  bad.eps = -0.5f;
  expect_error([&] { hk::layer_norm_forward(kCpu, bad); }, "eps must be finite and >= 0, got -0.5");
  bad = p;
  bad.gamma = nullptr;
  expect_error([&] { hk::layer_norm_forward(kCpu, bad); }, "layer_norm_forward: gamma is null");
  expect_error([&] { hk::layer_norm_backward(kCpu, p); }, "layer_norm_backward: mean is null");
}

// ---------------------------------------------------------------------------
// GELU

TEST(Gelu, ForwardMatchesExactErfForm) {
  for (int64_t count : {0, 1, 3, 33, 1000, 4099}) {
    const auto x = random_floats(count, 200 + count, -6.0f, 6.0f);
    std::vector<float> y(count);
    hk::gelu_forward(kCpu, x.data(), count, y.data());
    EXPECT_TRUE(all_close(y, ref::gelu(to_double(x)), 1e-6, kRtol)) << "count=" << count;
  }
}

TEST(Gelu, DiffersFromTheTanhApproximation) {
  // At x = -3 the exact form is -0.0040497; tanh approximation gives -0.0036374.
  const float x = -3.0f;
  float y = 0.0f;
  hk::gelu_forward(kCpu, &x, 1, &y);
  EXPECT_NEAR(y, -0.0040496, 1e-6);
}

TEST(Gelu, BackwardMatchesFiniteDifferences) {
  for (int64_t count : {1, 3, 33, 1000}) {
    const auto x = random_floats(count, 210 + count, -5.0f, 5.0f);
    const auto dy = random_floats(count, 220 + count);
    std::vector<float> dx(count);
    hk::gelu_backward(kCpu, x.data(), dy.data(), count, dx.data());
    const auto r = to_double(dy);
    const auto numeric =
        numeric_gradient([&](const auto& v) { return ref::dot(ref::gelu(v), r); }, to_double(x));
    EXPECT_TRUE(all_close(dx, numeric, 1e-6, kGradRtol)) << "count=" << count;
  }
}

TEST(Gelu, RunsInPlace) {
  const auto x = random_floats(37, 230);
  const auto dy = random_floats(37, 231);
  std::vector<float> y(37), dx(37), inplace = x, dy_inplace = dy;
  hk::gelu_forward(kCpu, x.data(), 37, y.data());
  hk::gelu_forward(kCpu, inplace.data(), 37, inplace.data());
  EXPECT_EQ(inplace, y);
  hk::gelu_backward(kCpu, x.data(), dy.data(), 37, dx.data());
  hk::gelu_backward(kCpu, x.data(), dy_inplace.data(), 37, dy_inplace.data());
  EXPECT_EQ(dy_inplace, dx);
}

TEST(Gelu, RejectsBadArguments) {
  float v = 0.0f;
  expect_error([&] { hk::gelu_forward(kCpu, &v, -2, &v); },
               "gelu_forward: count must be >= 0, got -2");
  expect_error([&] { hk::gelu_forward(kCpu, nullptr, 1, &v); }, "gelu_forward: x is null");
  expect_error([&] { hk::gelu_backward(kCpu, &v, nullptr, 1, &v); }, "gelu_backward: dy is null");
}

// ---------------------------------------------------------------------------
// Softmax

TEST(Softmax, ForwardMatchesNaiveReference) {
  for (const auto& shape : kRowShapes) {
    const int64_t n = shape.first, c = shape.second;
    const auto x = random_floats(n * c, 300 + c, -5.0f, 5.0f);
    std::vector<float> y(n * c);
    hk::softmax_forward(kCpu, x.data(), n, c, y.data());
    EXPECT_TRUE(all_close(y, ref::softmax(to_double(x), n, c), 1e-7, kRtol))
        << "n=" << n << " c=" << c;
  }
}

TEST(Softmax, LargeLogitsStayFinite) {
  // exp(80) and exp(1e4) overflow float; max subtraction keeps them finite.
  const std::vector<float> x = {80.0f, -80.0f, 79.0f, 1e4f, 0.0f, -1e4f, -80.0f, -80.0f, -80.0f};
  std::vector<float> y(9);
  hk::softmax_forward(kCpu, x.data(), 3, 3, y.data());
  EXPECT_TRUE(all_close(y, ref::softmax(to_double(x), 3, 3), 1e-7, kRtol));
}

TEST(Softmax, BackwardMatchesFiniteDifferences) {
  const std::pair<int64_t, int64_t> shapes[] = {{1, 1}, {2, 3}, {4, 33}, {2, 1000}};
  for (const auto& shape : shapes) {
    const int64_t n = shape.first, c = shape.second;
    const auto x = random_floats(n * c, 310 + c, -3.0f, 3.0f);
    const auto dy = random_floats(n * c, 320 + c);
    std::vector<float> y(n * c), dx(n * c);
    hk::softmax_forward(kCpu, x.data(), n, c, y.data());
    hk::softmax_backward(kCpu, y.data(), dy.data(), n, c, dx.data());
    const auto r = to_double(dy);
    const auto numeric = numeric_gradient(
        [&](const auto& v) { return ref::dot(ref::softmax(v, n, c), r); }, to_double(x));
    EXPECT_TRUE(all_close(dx, numeric, 1e-6, kGradRtol)) << "n=" << n << " c=" << c;
  }
}

TEST(Softmax, RunsInPlace) {
  const auto x = random_floats(4 * 33, 330);
  const auto dy = random_floats(4 * 33, 331);
  std::vector<float> y(4 * 33), dx(4 * 33), inplace = x, dy_inplace = dy;
  hk::softmax_forward(kCpu, x.data(), 4, 33, y.data());
  hk::softmax_forward(kCpu, inplace.data(), 4, 33, inplace.data());
  EXPECT_EQ(inplace, y);
  hk::softmax_backward(kCpu, y.data(), dy.data(), 4, 33, dx.data());
  hk::softmax_backward(kCpu, y.data(), dy_inplace.data(), 4, 33, dy_inplace.data());
  EXPECT_EQ(dy_inplace, dx);
}

TEST(Softmax, RejectsBadArguments) {
  float v = 0.0f;
  expect_error([&] { hk::softmax_forward(kCpu, &v, 1, 0, &v); },
               "softmax_forward: c must be positive, got 0");
  expect_error([&] { hk::softmax_forward(kCpu, &v, -4, 1, &v); }, "n must be >= 0, got -4");
  expect_error([&] { hk::softmax_backward(kCpu, nullptr, &v, 1, 1, &v); },
               "softmax_backward: y is null");
}

TEST(Dense, CudaRequestWithoutCudaBuildNamesTheOp) {
  if (hk::cuda_compiled()) GTEST_SKIP() << "this build has CUDA";
  float v = 0.0f;
  expect_error([&] { hk::gelu_forward(hk::Device::cuda(), &v, 1, &v); },
               "gelu_forward: the CUDA backend was requested but hybrec was built without CUDA");
}

}  // namespace
}  // namespace hybrec::testing::dense

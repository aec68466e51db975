// CPU training losses (BCE with logits, sampled softmax) against naive
// double references (dense_reference.h), their backward against central
// finite differences, in-place aliasing, numerical stability at extreme
// logits, thread-count independence and argument checks.
#include <gtest/gtest.h>
#include <omp.h>

#include <string>
#include <vector>

#include "dense_reference.h"
#include "dense_testing.h"
#include "hybrec/kernels/dense.h"
#include "testing.h"

namespace hk = hybrec::kernels;
namespace ref = hybrec::testing::dense_ref;
// The suites live in the dense helpers' namespace: its names and
// hybrec::testing's need no using-declarations.
namespace hybrec::testing::dense {
namespace {

// ---------------------------------------------------------------------------
// BCE with logits

struct BceCase {
  int64_t n;
  std::vector<float> logits, labels, weights;
  BceCase(int64_t count, uint64_t seed, float range = 4.0f)
      : n(count),
        logits(random_floats(count, seed, -range, range)),
        labels(random_floats(count, seed + 1, 0.0f, 1.0f)),
        weights(random_floats(count, seed + 2, 0.0f, 2.0f)) {
    // Hard 0/1 labels on half the examples, soft labels on the rest.
    for (int64_t i = 0; i < count; i += 2) labels[i] = labels[i] < 0.5f ? 0.0f : 1.0f;
  }
};

TEST(BceWithLogits, LossIsTheMeanOverExamplesWithAndWithoutWeights) {
  for (int64_t n : {1, 3, 33, 1000, 10007}) {
    BceCase c(n, 400 + n);
    float loss = -1.0f, weighted = -1.0f;
    hk::bce_with_logits_forward(kCpu, c.logits.data(), c.labels.data(), nullptr, n, &loss);
    hk::bce_with_logits_forward(kCpu, c.logits.data(), c.labels.data(), c.weights.data(), n,
                                &weighted);
    const auto w = to_double(c.weights);
    EXPECT_NEAR(loss, ref::bce(to_double(c.logits), to_double(c.labels), nullptr, n), 1e-5) << n;
    EXPECT_NEAR(weighted, ref::bce(to_double(c.logits), to_double(c.labels), &w, n), 1e-5) << n;
  }
}

TEST(BceWithLogits, EmptyBatchHasZeroLoss) {
  float loss = -1.0f;
  hk::bce_with_logits_forward(kCpu, nullptr, nullptr, nullptr, 0, &loss);
  EXPECT_EQ(loss, 0.0f);
}

TEST(BceWithLogits, ExtremeLogitsStayFiniteAndExact) {
  const std::vector<float> logits = {80.0f, -80.0f, 80.0f, -80.0f, 1e4f, -1e4f};
  const std::vector<float> labels = {1.0f, 0.0f, 0.0f, 1.0f, 0.3f, 0.7f};
  float loss = 0.0f;
  hk::bce_with_logits_forward(kCpu, logits.data(), labels.data(), nullptr, 6, &loss);
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_NEAR(loss, ref::bce(to_double(logits), to_double(labels), nullptr, 6), 1e-5 * loss);
  std::vector<float> d(6);
  hk::bce_with_logits_backward(kCpu, logits.data(), labels.data(), nullptr, 6, 1.0f, d.data());
  const std::vector<double> expected = {0.0, 0.0, 1.0 / 6, -1.0 / 6, 0.7 / 6, -0.7 / 6};
  EXPECT_TRUE(all_close(d, expected, 1e-7, 1e-6));
}

TEST(BceWithLogits, BackwardMatchesFiniteDifferences) {
  for (int64_t n : {1, 3, 33}) {
    for (bool weighted : {false, true}) {
      BceCase c(n, 410 + n);
      const float dloss = 0.75f;
      std::vector<float> d(n);
      const float* w = weighted ? c.weights.data() : nullptr;
      hk::bce_with_logits_backward(kCpu, c.logits.data(), c.labels.data(), w, n, dloss, d.data());
      const auto labels = to_double(c.labels), wd = to_double(c.weights);
      const auto numeric = numeric_gradient(
          [&](const auto& v) { return dloss * ref::bce(v, labels, weighted ? &wd : nullptr, n); },
          to_double(c.logits));
      EXPECT_TRUE(all_close(d, numeric, 1e-7, kGradRtol)) << "n=" << n << " weighted=" << weighted;
    }
  }
}

TEST(BceWithLogits, BackwardMayOverwriteLogits) {
  BceCase c(17, 420);
  std::vector<float> d(17), inplace = c.logits;
  hk::bce_with_logits_backward(kCpu, c.logits.data(), c.labels.data(), nullptr, 17, 1.0f, d.data());
  hk::bce_with_logits_backward(kCpu, inplace.data(), c.labels.data(), nullptr, 17, 1.0f,
                               inplace.data());
  EXPECT_EQ(inplace, d);
}

TEST(BceWithLogits, LossDoesNotDependOnThreadCount) {
  BceCase c(100003, 430);
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    float loss = 0.0f;
    hk::bce_with_logits_forward(kCpu, c.logits.data(), c.labels.data(), c.weights.data(), c.n,
                                &loss);
    omp_set_num_threads(saved);
    return loss;
  };
  EXPECT_EQ(run(1), run(3));
}

TEST(BceWithLogits, RejectsBadArguments) {
  float v = 0.0f;
  expect_error([&] { hk::bce_with_logits_forward(kCpu, &v, &v, nullptr, -5, &v); },
               "bce_with_logits_forward: n must be >= 0, got -5");
  expect_error([&] { hk::bce_with_logits_forward(kCpu, &v, nullptr, nullptr, 1, &v); },
               "bce_with_logits_forward: labels is null");
  expect_error([&] { hk::bce_with_logits_forward(kCpu, &v, &v, nullptr, 1, nullptr); },
               "bce_with_logits_forward: loss is null");
  expect_error([&] { hk::bce_with_logits_backward(kCpu, &v, &v, nullptr, 1, 1.0f, nullptr); },
               "bce_with_logits_backward: dlogits is null");
}

// ---------------------------------------------------------------------------
// Sampled softmax loss

struct SampledCase {
  int64_t n, c;
  std::vector<float> logits, log_q;
  SampledCase(int64_t rows, int64_t cols, uint64_t seed, float range = 4.0f)
      : n(rows),
        c(cols),
        logits(random_floats(rows * cols, seed, -range, range)),
        log_q(random_floats(rows * cols, seed + 1, -9.0f, -1.0f)) {}
};

const std::pair<int64_t, int64_t> kSampledShapes[] = {{1, 1}, {1, 3}, {5, 33}, {3, 101}, {2, 1000}};

TEST(SampledSoftmax, LossMatchesReferenceWithAndWithoutLogQ) {
  for (const auto& shape : kSampledShapes) {
    const int64_t n = shape.first, c = shape.second;
    SampledCase s(n, c, 500 + c);
    float plain = -1.0f, corrected = -1.0f;
    hk::sampled_softmax_loss_forward(kCpu, s.logits.data(), nullptr, n, c, &plain);
    hk::sampled_softmax_loss_forward(kCpu, s.logits.data(), s.log_q.data(), n, c, &corrected);
    const auto q = to_double(s.log_q);
    EXPECT_NEAR(plain, ref::sampled_softmax(to_double(s.logits), nullptr, n, c), 1e-5) << c;
    EXPECT_NEAR(corrected, ref::sampled_softmax(to_double(s.logits), &q, n, c), 1e-5) << c;
  }
}

TEST(SampledSoftmax, SingleColumnHasZeroLossAndGradient) {
  const std::vector<float> logits = {3.0f, -2.0f};
  float loss = -1.0f;
  std::vector<float> d(2, -1.0f);
  hk::sampled_softmax_loss_forward(kCpu, logits.data(), nullptr, 2, 1, &loss);
  hk::sampled_softmax_loss_backward(kCpu, logits.data(), nullptr, 2, 1, 1.0f, d.data());
  EXPECT_EQ(loss, 0.0f);
  EXPECT_EQ(d, std::vector<float>(2, 0.0f));
}

TEST(SampledSoftmax, EmptyBatchHasZeroLoss) {
  float loss = -1.0f;
  hk::sampled_softmax_loss_forward(kCpu, nullptr, nullptr, 0, 5, &loss);
  EXPECT_EQ(loss, 0.0f);
}

TEST(SampledSoftmax, ExtremeLogitsStayFinite) {
  SampledCase s(4, 33, 510, 80.0f);
  for (int64_t r = 0; r < 4; ++r) s.logits[r * 33] = r % 2 ? 80.0f : -80.0f;
  float loss = 0.0f;
  std::vector<float> d(4 * 33);
  const auto q = to_double(s.log_q);
  hk::sampled_softmax_loss_forward(kCpu, s.logits.data(), s.log_q.data(), 4, 33, &loss);
  hk::sampled_softmax_loss_backward(kCpu, s.logits.data(), s.log_q.data(), 4, 33, 1.0f, d.data());
  const double expected = ref::sampled_softmax(to_double(s.logits), &q, 4, 33);
  EXPECT_NEAR(loss, expected, 1e-5 * expected);
  for (float v : d) EXPECT_TRUE(std::isfinite(v));
}

TEST(SampledSoftmax, BackwardMatchesFiniteDifferences) {
  for (const auto& shape : kSampledShapes) {
    const int64_t n = shape.first, c = shape.second;
    for (bool corrected : {false, true}) {
      SampledCase s(n, c, 520 + c);
      const float dloss = 1.25f;
      std::vector<float> d(n * c);
      const float* q = corrected ? s.log_q.data() : nullptr;
      hk::sampled_softmax_loss_backward(kCpu, s.logits.data(), q, n, c, dloss, d.data());
      const auto qd = to_double(s.log_q);
      const auto numeric = numeric_gradient(
          [&](const auto& v) {
            return dloss * ref::sampled_softmax(v, corrected ? &qd : nullptr, n, c);
          },
          to_double(s.logits));
      EXPECT_TRUE(all_close(d, numeric, 1e-7, kGradRtol))
          << "n=" << n << " c=" << c << " logq=" << corrected;
    }
  }
}

TEST(SampledSoftmax, BackwardMayOverwriteLogits) {
  SampledCase s(5, 33, 530);
  std::vector<float> d(5 * 33), inplace = s.logits;
  hk::sampled_softmax_loss_backward(kCpu, s.logits.data(), s.log_q.data(), 5, 33, 1.0f, d.data());
  hk::sampled_softmax_loss_backward(kCpu, inplace.data(), s.log_q.data(), 5, 33, 1.0f,
                                    inplace.data());
  EXPECT_EQ(inplace, d);
}

TEST(SampledSoftmax, RejectsBadArguments) {
  float v = 0.0f;
  expect_error([&] { hk::sampled_softmax_loss_forward(kCpu, &v, nullptr, 1, -2, &v); },
               "sampled_softmax_loss_forward: c must be positive, got -2");
  expect_error([&] { hk::sampled_softmax_loss_forward(kCpu, nullptr, nullptr, 1, 1, &v); },
               "sampled_softmax_loss_forward: logits is null");
  expect_error([&] { hk::sampled_softmax_loss_backward(kCpu, &v, nullptr, -1, 1, 1.0f, &v); },
               "sampled_softmax_loss_backward: n must be >= 0, got -1");
}

}  // namespace
}  // namespace hybrec::testing::dense

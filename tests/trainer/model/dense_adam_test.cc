#include "trainer/model/dense_adam.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {
namespace {

// Adam by hand, in double, for one element: returns the new parameter and
// updates m, v.
double adam_reference(double p, double g, double* m, double* v, int t, double lr, double b1,
                      double b2, double eps, double wd, bool decoupled) {
  if (!decoupled) g += wd * p;
  *m = b1 * *m + (1 - b1) * g;
  *v = b2 * *v + (1 - b2) * g * g;
  const double mhat = *m / (1 - std::pow(b1, t));
  const double vhat = *v / (1 - std::pow(b2, t));
  double update = mhat / (std::sqrt(vhat) + eps);
  if (decoupled) update += wd * p;
  return p - lr * update;
}

TEST(DenseAdam, FirstStepMovesEachParameterByLrTimesSignOfGradient) {
  // Step 1: m_hat = g and v_hat = g^2, so the update is g / (|g| + eps).
  DenseAdam adam(3, DenseAdamOptions{});
  std::vector<float> p = {1.0f, -2.0f, 0.5f};
  const std::vector<float> g = {0.3f, -4.0f, 0.0f};
  adam.step(0.1f, g.data(), p.data());
  EXPECT_NEAR(p[0], 0.9f, 1e-6f);
  EXPECT_NEAR(p[1], -1.9f, 1e-6f);
  EXPECT_EQ(p[2], 0.5f);  // zero gradient: no move
  EXPECT_EQ(adam.steps(), 1);
  EXPECT_NEAR(adam.m()[0], 0.03f, 1e-8f);
  // 1 - beta2 is 0.000999987 in float, 1.3e-5 relative off the real 0.001.
  EXPECT_NEAR(adam.v()[1], 0.016f, 0.016f * 2e-5f);
}

TEST(DenseAdam, ThreeStepsMatchHandComputedAdamW) {
  DenseAdamOptions o;
  o.beta1 = 0.8f;
  o.beta2 = 0.9f;
  o.eps = 1e-3f;
  o.weight_decay = 0.1f;
  for (bool decoupled : {true, false}) {
    o.decoupled_weight_decay = decoupled;
    DenseAdam adam(2, o);
    std::vector<float> p = {0.7f, -1.3f};
    double ref_p[2] = {0.7, -1.3}, ref_m[2] = {0, 0}, ref_v[2] = {0, 0};
    const float grads[3][2] = {{0.5f, -0.2f}, {-0.1f, 0.4f}, {0.25f, 0.05f}};
    const float lrs[3] = {0.05f, 0.1f, 0.02f};
    for (int t = 1; t <= 3; ++t) {
      adam.step(lrs[t - 1], grads[t - 1], p.data());
      for (int i = 0; i < 2; ++i) {
        ref_p[i] = adam_reference(ref_p[i], grads[t - 1][i], &ref_m[i], &ref_v[i], t, lrs[t - 1],
                                  o.beta1, o.beta2, o.eps, o.weight_decay, decoupled);
        EXPECT_NEAR(p[static_cast<std::size_t>(i)], ref_p[i], 1e-6) << "step " << t << " i " << i;
        EXPECT_NEAR(adam.m()[static_cast<std::size_t>(i)], ref_m[i], 1e-7);
        EXPECT_NEAR(adam.v()[static_cast<std::size_t>(i)], ref_v[i], 1e-7);
      }
    }
  }
}

TEST(DenseAdam, ClipsToMaxGlobalNorm) {
  DenseAdamOptions o;
  o.max_norm = 1.0f;
  DenseAdam adam(2, o);
  std::vector<float> p = {0.0f, 0.0f};
  const std::vector<float> g = {3.0f, 4.0f};  // norm 5
  const DenseAdam::StepResult r = adam.step(0.1f, g.data(), p.data());
  EXPECT_FLOAT_EQ(r.grad_norm, 5.0f);
  EXPECT_NEAR(r.clip_coef, 0.2f, 1e-6f);
  // m holds (1 - beta1) * clipped gradient.
  EXPECT_NEAR(adam.m()[0], 0.1f * 0.6f, 1e-7f);
  EXPECT_NEAR(adam.m()[1], 0.1f * 0.8f, 1e-7f);
  EXPECT_NEAR(adam.v()[1], 0.001f * 0.64f, 0.00064f * 2e-5f);
}

TEST(DenseAdam, DoesNotClipBelowMaxNormOrWhenOff) {
  DenseAdamOptions o;
  o.max_norm = 10.0f;
  DenseAdam clipped(2, o);
  DenseAdam plain(2, DenseAdamOptions{});
  std::vector<float> p1 = {1.0f, 2.0f}, p2 = p1;
  const std::vector<float> g = {3.0f, 4.0f};
  EXPECT_EQ(clipped.step(0.1f, g.data(), p1.data()).clip_coef, 1.0f);
  EXPECT_EQ(plain.step(0.1f, g.data(), p2.data()).clip_coef, 1.0f);
  EXPECT_EQ(p1, p2);
}

TEST(DenseAdam, RestoredStateContinuesIdentically) {
  DenseAdam a(3, DenseAdamOptions{});
  std::vector<float> p = {0.1f, 0.2f, 0.3f};
  const std::vector<float> g1 = {1.0f, -0.5f, 0.25f}, g2 = {0.3f, 0.3f, -0.9f};
  a.step(0.01f, g1.data(), p.data());
  DenseAdam b(3, DenseAdamOptions{});
  b.load_state(a.m(), a.v(), a.steps());
  std::vector<float> q = p;
  a.step(0.01f, g2.data(), p.data());
  b.step(0.01f, g2.data(), q.data());
  EXPECT_EQ(p, q);
  EXPECT_EQ(b.steps(), 2);
  EXPECT_THROW(b.load_state(std::vector<float>(2), a.v(), 1), hybrec::Error);
}

TEST(DenseAdam, RejectsBadOptions) {
  DenseAdamOptions o;
  o.beta1 = 1.0f;
  EXPECT_THROW(DenseAdam(1, o), hybrec::Error);
  o = DenseAdamOptions{};
  o.max_norm = -1.0f;
  EXPECT_THROW(DenseAdam(1, o), hybrec::Error);
}

}  // namespace
}  // namespace hybrec::trainer

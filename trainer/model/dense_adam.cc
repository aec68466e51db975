#include "trainer/model/dense_adam.h"

#include <cmath>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

DenseAdam::DenseAdam(int64_t size, const DenseAdamOptions& options) : options_(options) {
  HYBREC_CHECK(size >= 0, "DenseAdam: size = ", size);
  HYBREC_CHECK(options.beta1 >= 0.0f && options.beta1 < 1.0f, "DenseAdam: beta1 = ", options.beta1,
               " is not in [0, 1)");
  HYBREC_CHECK(options.beta2 >= 0.0f && options.beta2 < 1.0f, "DenseAdam: beta2 = ", options.beta2,
               " is not in [0, 1)");
  HYBREC_CHECK(options.eps > 0.0f, "DenseAdam: eps = ", options.eps, " must be positive");
  HYBREC_CHECK(options.weight_decay >= 0.0f, "DenseAdam: weight_decay = ", options.weight_decay,
               " is negative");
  HYBREC_CHECK(options.max_norm >= 0.0f, "DenseAdam: max_norm = ", options.max_norm,
               " is negative");
  m_.assign(static_cast<std::size_t>(size), 0.0f);
  v_.assign(static_cast<std::size_t>(size), 0.0f);
}

DenseAdam::StepResult DenseAdam::step(float lr, const float* grad, float* params) {
  const int64_t n = size();
  StepResult result;
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sq += static_cast<double>(grad[i]) * grad[i];
  const double norm = std::sqrt(sq);
  result.grad_norm = static_cast<float>(norm);
  if (options_.max_norm > 0.0f && norm > options_.max_norm) {
    result.clip_coef = static_cast<float>(options_.max_norm / (norm + 1e-6));
  }

  ++steps_;
  const double t = static_cast<double>(steps_);
  const float inv_bc1 = static_cast<float>(1.0 / (1.0 - std::pow(double{options_.beta1}, t)));
  const float inv_bc2 = static_cast<float>(1.0 / (1.0 - std::pow(double{options_.beta2}, t)));
  const float b1 = options_.beta1, b2 = options_.beta2, eps = options_.eps;
  const float wd = options_.weight_decay, c = result.clip_coef;
  const bool decoupled = options_.decoupled_weight_decay;
  float* m = m_.data();
  float* v = v_.data();
  for (int64_t i = 0; i < n; ++i) {
    const float p = params[i];
    float g = c * grad[i];
    if (!decoupled) g += wd * p;
    m[i] = b1 * m[i] + (1.0f - b1) * g;
    v[i] = b2 * v[i] + (1.0f - b2) * g * g;
    float update = (m[i] * inv_bc1) / (std::sqrt(v[i] * inv_bc2) + eps);
    if (decoupled) update += wd * p;
    params[i] = p - lr * update;
  }
  return result;
}

void DenseAdam::load_state(const std::vector<float>& m, const std::vector<float>& v,
                           int64_t steps) {
  HYBREC_CHECK(m.size() == m_.size() && v.size() == v_.size(), "DenseAdam::load_state: m has ",
               m.size(), " and v ", v.size(), " values, expected ", m_.size());
  HYBREC_CHECK(steps >= 0, "DenseAdam::load_state: steps = ", steps);
  m_ = m;
  v_ = v;
  steps_ = steps;
}

}  // namespace hybrec::trainer

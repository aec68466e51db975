#include "trainer/model/dense_adam.h"

#include <cmath>

#include "hybrec/kernels/elementwise.h"
#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

DenseAdam::DenseAdam(int64_t size, const DenseAdamOptions& options, const kernels::Device& device)
    : options_(options), device_(device) {
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
  m_ = kernels::Buffer<float>(device_, static_cast<std::size_t>(size));
  v_ = kernels::Buffer<float>(device_, static_cast<std::size_t>(size));
  m_.zero();
  v_.zero();
}

DenseAdam::StepResult DenseAdam::step(float lr, const float* grad, float* params) {
  const int64_t n = size();
  StepResult result;
  const double norm = std::sqrt(kernels::sum_of_squares(device_, grad, n));
  result.grad_norm = static_cast<float>(norm);
  if (options_.max_norm > 0.0f && norm > options_.max_norm) {
    result.clip_coef = static_cast<float>(options_.max_norm / (norm + 1e-6));
  }

  ++steps_;
  const double t = static_cast<double>(steps_);
  kernels::DenseAdamStep s;
  s.learning_rate = lr;
  s.beta1 = options_.beta1;
  s.beta2 = options_.beta2;
  s.eps = options_.eps;
  s.weight_decay = options_.weight_decay;
  s.decoupled_weight_decay = options_.decoupled_weight_decay;
  s.clip_coef = result.clip_coef;
  s.inv_bias_correction1 = static_cast<float>(1.0 / (1.0 - std::pow(double{options_.beta1}, t)));
  s.inv_bias_correction2 = static_cast<float>(1.0 / (1.0 - std::pow(double{options_.beta2}, t)));
  kernels::dense_adam_update(device_, s, grad, n, params, m_.data(), v_.data());
  return result;
}

void DenseAdam::load_state(const std::vector<float>& m, const std::vector<float>& v,
                           int64_t steps) {
  HYBREC_CHECK(m.size() == m_.size() && v.size() == v_.size(), "DenseAdam::load_state: m has ",
               m.size(), " and v ", v.size(), " values, expected ", m_.size());
  HYBREC_CHECK(steps >= 0, "DenseAdam::load_state: steps = ", steps);
  m_.upload(m);
  v_.upload(v);
  steps_ = steps;
}

}  // namespace hybrec::trainer

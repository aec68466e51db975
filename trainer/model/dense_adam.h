// Adam over the flat dense parameter buffer (every rank holds the same
// all-reduced gradient and applies the same step, so replicas stay equal).
//
// One step with learning rate lr (the caller's schedule: warmup, decay):
//   norm  = ||grad||_2 over the whole buffer (summed in double)
//   c     = max_norm / (norm + 1e-6) if max_norm > 0 and norm > max_norm, else 1
//           (PyTorch's clip_grad_norm_)
//   g     = c * grad  (+ weight_decay * p when not decoupled: L2 in the gradient)
//   m     = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
//   p    -= lr * ( m / (1 - beta1^t) / (sqrt(v / (1 - beta2^t)) + eps)
//                  + weight_decay * p if decoupled )          (AdamW)
// with t the 1-based step count. Matches torch.optim.Adam / AdamW followed
// by clip_grad_norm_ to float rounding.
#pragma once

#include <cstdint>
#include <vector>

#include "hybrec/kernels/device.h"

namespace hybrec::trainer {

struct DenseAdamOptions {
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  bool decoupled_weight_decay = true;  // AdamW; false = L2 added to the gradient
  float max_norm = 0.0f;               // global-norm clipping; 0 = off
};

class DenseAdam {
 public:
  // Validates the options (betas in [0, 1), eps > 0, weight_decay >= 0,
  // max_norm >= 0); state starts at zero, step 0. The moments live on
  // `device`, and step() takes device arrays (kernels::dense_adam_update;
  // on the CPU the former host loop, bit for bit).
  DenseAdam(int64_t size, const DenseAdamOptions& options,
            const kernels::Device& device = kernels::Device::cpu());

  struct StepResult {
    float grad_norm = 0.0f;  // before clipping
    float clip_coef = 1.0f;  // the factor applied to the gradient
  };

  // Advances the step counter and updates params [size] in place from
  // grad [size] (not modified), both on the device. On CUDA the gradient's
  // norm is read back (one synchronisation) for the clipping.
  StepResult step(float lr, const float* grad, float* params);

  const DenseAdamOptions& options() const { return options_; }
  int64_t size() const { return static_cast<int64_t>(m_.size()); }

  // Checkpoint state (host copies): first and second moments and the number
  // of steps taken.
  std::vector<float> m() const { return m_.download(); }
  std::vector<float> v() const { return v_.download(); }
  int64_t steps() const { return steps_; }
  // Restores a checkpoint; throws hybrec::Error when the sizes differ from
  // size() or steps < 0.
  void load_state(const std::vector<float>& m, const std::vector<float>& v, int64_t steps);

 private:
  DenseAdamOptions options_;
  kernels::Device device_;
  kernels::Buffer<float> m_, v_;
  int64_t steps_ = 0;
};

}  // namespace hybrec::trainer

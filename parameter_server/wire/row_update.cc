#include "parameter_server/wire/row_update.h"

#include <algorithm>

#include "hybrec/kernels/embedding.h"

namespace hybrec::ps {

void apply_update(const TableSpec& spec, float* row, float* state, const float* grad) {
  const int64_t dim = spec.dim;
  switch (spec.optimizer) {
    case Optimizer::kSgd: {
      const float lr = static_cast<float>(spec.learning_rate);
      for (int64_t j = 0; j < dim; ++j) row[j] -= lr * grad[j];
      return;
    }
    case Optimizer::kRowwiseAdagrad: {
      kernels::RowwiseAdagradParams params;
      params.learning_rate = static_cast<float>(spec.learning_rate);
      params.eps = static_cast<float>(spec.eps);
      kernels::rowwise_adagrad_row(row, state, grad, dim, params);
      return;
    }
    case Optimizer::kAdam: {
      float* m = state;
      float* v = state + dim;
      float* step = state + 2 * dim;  // exact as a float up to 2^24 updates of this row
      *step += 1.0f;
      kernels::AdamParams params;
      params.learning_rate = static_cast<float>(spec.learning_rate);
      params.beta1 = static_cast<float>(spec.beta1);
      params.beta2 = static_cast<float>(spec.beta2);
      params.eps = static_cast<float>(spec.eps);
      params.weight_decay = static_cast<float>(spec.weight_decay);
      params.step = static_cast<int64_t>(*step);
      kernels::adam_row(row, m, v, grad, dim, params);
      return;
    }
  }
}

void reset_state(const TableSpec& spec, float* state) {
  std::fill(state, state + state_floats(spec), 0.0f);
}

}  // namespace hybrec::ps

// Parameters, id rows and text vectors for the tiny batch, and the plumbing
// to run the model on them.
#pragma once

#include <cstdint>
#include <vector>

#include "tiny_batch.h"
#include "trainer/model/hybrid_model.h"

namespace hybrec::trainer::testing {

struct ModelFixture {
  explicit ModelFixture(const ModelConfig& c, uint64_t seed = 1)
      : config(c), model(c), batch(tiny_batch()) {
    params.resize(static_cast<std::size_t>(model.num_params()));
    model.init_params(seed, params.data());
    // Move away from the init so biases, LN betas and the like are not at
    // special values (zero, one) where a wrong gradient could still match.
    const std::vector<float> noise = random_values(seed + 17, model.num_params(), 0.1f);
    for (std::size_t i = 0; i < params.size(); ++i) params[i] += noise[i];
    user_rows = random_values(seed + 2, users() * c.dim, 0.5f);
    item_rows = random_values(seed + 3, items() * c.dim, 0.5f);
    text = tiny_text(c.text_dim);
  }

  int64_t users() const { return static_cast<int64_t>(batch.user_ids.size()); }
  int64_t items() const { return static_cast<int64_t>(batch.item_ids.size()); }

  HybridModel::StepInputs inputs(bool training = false, uint64_t dropout_seed = 0) const {
    HybridModel::StepInputs in;
    in.batch = &batch;
    in.params = params.data();
    in.user_rows = config.use_id ? user_rows.data() : nullptr;
    in.item_rows = config.use_id ? item_rows.data() : nullptr;
    in.text_emb = config.text_dim > 0 ? text.data() : nullptr;
    in.num_text_rows = kNumGlobalItems;
    in.dropout_seed = dropout_seed;
    in.training = training;
    return in;
  }

  struct Grads {
    std::vector<float> dense, users, items;
    float loss = 0.0f;
  };

  Grads run(bool training = false, uint64_t dropout_seed = 0) const {
    Grads g;
    g.dense.assign(params.size(), -7.0f);  // garbage: the model must overwrite
    g.users.assign(user_rows.size(), -7.0f);
    g.items.assign(item_rows.size(), -7.0f);
    HybridModel::StepOutputs out;
    out.dense_grad = g.dense.data();
    out.user_row_grads = g.users.data();
    out.item_row_grads = g.items.data();
    g.loss = model.forward_backward(inputs(training, dropout_seed), out);
    return g;
  }

  ModelConfig config;
  HybridModel model;
  Batch batch;
  std::vector<float> params, user_rows, item_rows, text;
};

}  // namespace hybrec::trainer::testing

// The hybrid model on the CUDA backend against the CPU backend: one
// forward_backward of the tiny batch with every switch on and then each
// ablation, comparing the loss, every dense gradient and every row gradient,
// plus forward_loss logits and the evaluation functions, at the tolerances
// hybrid_model.h states (kCudaValue* for values, kCudaGrad* for gradients).
// The model is 64 wide with 2 heads, since the CUDA attention's smallest
// head dim is 32. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "hybrec/kernels/device.h"
#include "tiny_batch.h"
#include "trainer/model/hybrid_model.h"

namespace hybrec::trainer {
namespace {

namespace k = hybrec::kernels;
using testing::kNumGlobalItems;
using testing::random_values;

struct Variant {
  std::string name;
  ModelConfig config;
  bool training = false;  // with id_dropout > 0: the dropout mask applies
};

ModelConfig gpu_config() {
  ModelConfig c = testing::tiny_config();
  c.dim = 64;
  c.text_dim = 16;
  c.heads = 2;
  return c;
}

std::vector<Variant> variants() {
  std::vector<Variant> v;
  v.push_back({"all", gpu_config()});
  Variant no_id{"no_id", gpu_config()};
  no_id.config.use_id = false;
  v.push_back(no_id);
  Variant no_text{"no_text", gpu_config()};
  no_text.config.use_text = false;
  v.push_back(no_text);
  Variant no_history{"no_history", gpu_config()};
  no_history.config.use_history = false;
  v.push_back(no_history);
  Variant no_score{"no_text_score", gpu_config()};
  no_score.config.use_text_score = false;
  v.push_back(no_score);
  Variant bce{"bce", gpu_config()};
  bce.config.loss = Loss::kBce;
  v.push_back(bce);
  Variant last{"last_pooling", gpu_config()};
  last.config.pooling = HistoryPooling::kLast;
  v.push_back(last);
  Variant dropout{"id_dropout", gpu_config()};
  dropout.config.id_dropout = 0.4f;
  dropout.training = true;
  v.push_back(dropout);
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, double atol,
                  double rtol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], atol + rtol * std::fabs(want[i])) << what << " value " << i;
  }
}

void expect_values(const std::vector<float>& got, const std::vector<float>& want,
                   const std::string& what) {
  expect_close(got, want, kCudaValueAtol, kCudaValueRtol, what);
}

void expect_grads(const std::vector<float>& got, const std::vector<float>& want,
                  const std::string& what) {
  expect_close(got, want, kCudaGradAtol, kCudaGradRtol, what);
}

// Everything one backend produces for the tiny batch.
struct Results {
  float loss = 0.0f, eval_loss = 0.0f;
  std::vector<float> dense, user_grads, item_grads, logits;
  std::vector<float> item_vecs, users, queries, scores;
};

// The model's host inputs, a pure function of the config.
struct Inputs {
  explicit Inputs(const ModelConfig& c) : batch(testing::tiny_batch()) {
    const HybridModel model(c);
    params.resize(static_cast<std::size_t>(model.num_params()));
    model.init_params(1, params.data());
    const std::vector<float> noise = random_values(18, model.num_params(), 0.1f);
    for (std::size_t i = 0; i < params.size(); ++i) params[i] += noise[i];
    user_rows = random_values(3, static_cast<int64_t>(batch.user_ids.size()) * c.dim, 0.5f);
    item_rows = random_values(4, static_cast<int64_t>(batch.item_ids.size()) * c.dim, 0.5f);
    text = testing::tiny_text(c.text_dim);
    global_rows = random_values(5, kNumGlobalItems * c.dim, 0.5f);
    eval_user_rows = random_values(6, 4 * c.dim, 0.5f);
  }
  Batch batch;
  std::vector<float> params, user_rows, item_rows, text, global_rows, eval_user_rows;
  // Four users: padded, empty, full with a zero-text item, only the last slot.
  std::vector<int64_t> history = {-1, 3, 7, 7, -1, -1, -1, -1, 1, 2, 15, 19, -1, -1, -1, 15};
};

// Runs the model on `device`, copying the inputs there and the results back.
Results run(const Variant& v, const Inputs& in, const k::Device& device) {
  const ModelConfig& c = v.config;
  const HybridModel model(c, device);
  const int64_t d = c.dim, t = c.text_dim, users = 4;
  k::Buffer<float> params(device, in.params), user_rows(device, in.user_rows),
      item_rows(device, in.item_rows), text(device, in.text);
  k::Buffer<float> dense(device, in.params.size()), user_grads(device, in.user_rows.size()),
      item_grads(device, in.item_rows.size()),
      logits(device, static_cast<std::size_t>(in.batch.size * in.batch.candidates));

  HybridModel::StepInputs step;
  step.batch = &in.batch;
  step.params = params.data();
  step.user_rows = user_rows.data();
  step.item_rows = item_rows.data();
  step.text_emb = text.data();
  step.num_text_rows = kNumGlobalItems;
  step.dropout_seed = 12345;
  step.training = v.training;
  HybridModel::StepOutputs out;
  out.dense_grad = dense.data();
  out.user_row_grads = user_grads.data();
  out.item_row_grads = item_grads.data();
  Results r;
  r.loss = model.forward_backward(step, out);
  step.training = false;
  r.eval_loss = model.forward_loss(step, logits.data());

  std::vector<int64_t> ids(static_cast<std::size_t>(kNumGlobalItems));
  for (int64_t i = 0; i < kNumGlobalItems; ++i) ids[static_cast<std::size_t>(i)] = i;
  k::Buffer<float> global_rows(device, in.global_rows), eval_user_rows(device, in.eval_user_rows);
  k::Buffer<float> vecs(device, static_cast<std::size_t>(kNumGlobalItems * d));
  k::Buffer<float> states(device, static_cast<std::size_t>(users * d));
  k::Buffer<float> queries(device, static_cast<std::size_t>(users * t));
  k::Buffer<float> scores(device, static_cast<std::size_t>(users * kNumGlobalItems));
  model.item_vectors(params.data(), kNumGlobalItems, ids.data(), global_rows.data(), text.data(),
                     nullptr, vecs.data());
  model.user_states(params.data(), users, eval_user_rows.data(), in.history.data(), vecs.data(),
                    text.data(), states.data(), queries.data());
  model.score_items(params.data(), users, states.data(), queries.data(), kNumGlobalItems,
                    vecs.data(), text.data(), nullptr, scores.data());

  k::synchronize(device);
  r.dense = dense.download();
  r.user_grads = user_grads.download();
  r.item_grads = item_grads.download();
  r.logits = logits.download();
  r.item_vecs = vecs.download();
  r.users = states.download();
  r.queries = queries.download();
  r.scores = scores.download();
  return r;
}

class HybridModelGpu : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    if (k::cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(HybridModelGpu, StepAndEvaluationMatchTheCpuBackend) {
  const Variant& v = GetParam();
  const Inputs in(v.config);
  const Results want = run(v, in, k::Device::cpu());
  const Results got = run(v, in, k::Device::cuda());

  EXPECT_NEAR(got.loss, want.loss, kCudaValueAtol + kCudaValueRtol * std::fabs(want.loss));
  EXPECT_NEAR(got.eval_loss, want.eval_loss,
              kCudaValueAtol + kCudaValueRtol * std::fabs(want.eval_loss));
  const HybridModel model(v.config);
  for (const DenseTensor& t : model.tensors()) {
    const auto begin = want.dense.begin() + t.offset;
    expect_grads(
        std::vector<float>(got.dense.begin() + t.offset, got.dense.begin() + t.offset + t.size()),
        std::vector<float>(begin, begin + t.size()), v.name + " grad " + t.name);
  }
  expect_grads(got.user_grads, want.user_grads, v.name + " user row grads");
  expect_grads(got.item_grads, want.item_grads, v.name + " item row grads");
  expect_values(got.logits, want.logits, v.name + " logits");
  expect_values(got.item_vecs, want.item_vecs, v.name + " item_vectors");
  expect_values(got.users, want.users, v.name + " user_states");
  expect_values(got.queries, want.queries, v.name + " queries");
  expect_values(got.scores, want.scores, v.name + " score_items");
}

INSTANTIATE_TEST_SUITE_P(Switches, HybridModelGpu, ::testing::ValuesIn(variants()),
                         [](const ::testing::TestParamInfo<Variant>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace hybrec::trainer

// Whole-model gradient check: central finite differences of the loss that
// forward_backward returns, against its analytic gradients, for every dense
// parameter and every user and item row element of the tiny batch.
//
// Tolerance. The model runs in float. With step h the central difference has
// truncation error h^2/6 * f''' and rounding error about eps_f * |loss| / h
// (eps_f = 6e-8, loss ~ 1, plus the forward's own rounding, ~1e-6 relative
// after two layer norms and the attention softmax). h = 1e-2 balances the two
// (~2e-5 each for third derivatives of order 1). The worst error measured
// over every case below is 9e-5 (a QKV bias and a position, through two
// layer norms); we allow |fd - analytic| <= 5e-4 + 5e-3 * |analytic|, over
// five times that, while a real mistake (a dropped term, a missing 1/n, a
// transposed weight, a gradient sent to the wrong row) gives errors of the
// order of the gradient itself (0.01 - 1 here).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "model_fixture.h"
#include "trainer/model/counter_rng.h"

namespace hybrec::trainer {
namespace {

using testing::ModelFixture;

constexpr float kStep = 1e-2f;
constexpr float kAtol = 5e-4f;
constexpr float kRtol = 5e-3f;
constexpr int64_t kMaxChecked = 24;

struct Case {
  std::string name;
  bool use_id = true, use_text = true, use_history = true, use_text_score = true;
  Loss loss = Loss::kSampledSoftmax;
  HistoryPooling pooling = HistoryPooling::kMean;
  int64_t layers = 2;
  float id_dropout = 0.0f;
  UnseenItems unseen_items = UnseenItems::kNoise;
};

ModelConfig config_of(const Case& k) {
  ModelConfig c = testing::tiny_config();
  c.use_id = k.use_id;
  c.use_text = k.use_text;
  c.use_history = k.use_history;
  c.use_text_score = k.use_text_score;
  c.loss = k.loss;
  c.pooling = k.pooling;
  c.layers = k.layers;
  c.id_dropout = k.id_dropout;
  c.unseen_items = k.unseen_items;
  return c;
}

void PrintTo(const Case& k, std::ostream* os) { *os << k.name; }

class GradientCheck : public ::testing::TestWithParam<Case> {};

// The loss that the finite differences take: forward_loss without dropout
// (the same forward as forward_backward's, checked in hybrid_model_test),
// forward_backward's with it (dropout draws are fixed by the seed).
double loss_at(const ModelFixture& f, bool training, uint64_t seed) {
  return training ? f.run(true, seed).loss : f.model.forward_loss(f.inputs());
}

// Checks d loss / d values[i] for i in [begin, end) against analytic[i]:
// every element of small tensors, and kMaxChecked of a large one (first,
// last and a fixed pseudo-random sample) to keep the test fast. `values` is one of the
// fixture's vectors, perturbed in place and restored.
void check_range(ModelFixture& f, std::vector<float>& values, int64_t begin, int64_t end,
                 const std::vector<float>& analytic, const std::string& what, bool training,
                 uint64_t seed) {
  ASSERT_EQ(values.size(), analytic.size());
  const int64_t count = end - begin;
  std::vector<int64_t> picks;
  for (int64_t j = 0; j < std::min(count, kMaxChecked); ++j) {
    picks.push_back(count <= kMaxChecked || j == 0 ? j
                    : j == 1                       ? count - 1
                             : static_cast<int64_t>(counter_hash(static_cast<uint64_t>(begin), 0,
                                                                 static_cast<uint64_t>(j)) %
                                                    static_cast<uint64_t>(count)));
  }
  for (int64_t j : picks) {
    const int64_t i = begin + j;
    float& v = values[static_cast<std::size_t>(i)];
    const float saved = v;
    v = saved + kStep;
    const double plus = loss_at(f, training, seed);
    v = saved - kStep;
    const double minus = loss_at(f, training, seed);
    v = saved;
    const double fd = (plus - minus) / (2.0 * kStep);
    const double an = analytic[static_cast<std::size_t>(i)];
    EXPECT_LE(std::fabs(fd - an), kAtol + kRtol * std::fabs(an))
        << what << "[" << i - begin << "]: finite difference " << fd << ", analytic " << an;
  }
}

TEST_P(GradientCheck, AnalyticGradientsMatchFiniteDifferences) {
  const Case& k = GetParam();
  ModelFixture f(config_of(k));
  const bool training = k.id_dropout > 0.0f;
  const uint64_t seed = 5;
  const ModelFixture::Grads g = f.run(training, seed);
  ASSERT_TRUE(std::isfinite(g.loss));
  for (const DenseTensor& t : f.model.tensors()) {
    check_range(f, f.params, t.offset, t.offset + t.size(), g.dense, t.name, training, seed);
  }
  if (k.use_id) {
    check_range(f, f.user_rows, 0, static_cast<int64_t>(f.user_rows.size()), g.users, "user_rows",
                training, seed);
    check_range(f, f.item_rows, 0, static_cast<int64_t>(f.item_rows.size()), g.items, "item_rows",
                training, seed);
  } else {
    for (float v : g.users) EXPECT_EQ(v, 0.0f);
    for (float v : g.items) EXPECT_EQ(v, 0.0f);
  }
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (Loss loss : {Loss::kSampledSoftmax, Loss::kBce}) {
    const std::string l = loss == Loss::kBce ? "Bce" : "SampledSoftmax";
    Case hybrid{"Hybrid" + l};
    hybrid.loss = loss;
    out.push_back(hybrid);
    Case last = hybrid;
    last.name = "HybridLastPooling" + l;
    last.pooling = HistoryPooling::kLast;
    out.push_back(last);
    Case cf{"CfOnly" + l};
    cf.loss = loss;
    cf.use_text = false;
    cf.use_text_score = false;
    out.push_back(cf);
    Case text{"TextOnly" + l};
    text.loss = loss;
    text.use_id = false;
    out.push_back(text);
  }
  Case no_history{"NoHistoryOneLayerOff"};
  no_history.use_history = false;
  out.push_back(no_history);
  Case zero_layers{"ZeroEncoderLayers"};
  zero_layers.layers = 0;
  out.push_back(zero_layers);
  Case dropout{"HalfIdDropout"};
  dropout.id_dropout = 0.5f;
  out.push_back(dropout);
  Case new_item{"HalfIdDropoutLearnedNewItem"};  // the dropped rows' e_new
  new_item.id_dropout = 0.5f;
  new_item.unseen_items = UnseenItems::kLearned;
  out.push_back(new_item);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Model, GradientCheck, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace hybrec::trainer

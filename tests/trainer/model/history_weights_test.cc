// HybridModel::history_weights against a reference written out here: the
// encoder input x0 = v + p by hand, the layers before the last through
// nn::block_inference (the inference path, not the training forward the
// model reads its Q and K from), then the last layer's Q, K and softmax by
// hand, averaged over heads and the pooled query positions.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tiny_batch.h"
#include "trainer/model/hybrid_model.h"
#include "trainer/nn/transformer_block.h"

namespace hybrec::trainer {
namespace {

using testing::kNumGlobalItems;
using testing::random_values;

constexpr int64_t kLen = 4;

ModelConfig config(int64_t layers, HistoryPooling pooling) {
  ModelConfig c;
  c.dim = 8;
  c.heads = 2;
  c.text_dim = 0;
  c.use_text = false;
  c.use_text_score = false;
  c.history_len = kLen;
  c.layers = layers;
  c.pooling = pooling;
  return c;
}

struct WeightedModel {
  explicit WeightedModel(const ModelConfig& c) : model(c) {
    params.resize(static_cast<std::size_t>(model.num_params()));
    model.init_params(5, params.data());
    // Larger than the init so the attention is far from uniform.
    const std::vector<float> noise = random_values(8, model.num_params(), 0.6f);
    for (std::size_t i = 0; i < params.size(); ++i) params[i] += noise[i];
    item_vecs = random_values(9, kNumGlobalItems * c.dim, 1.0f);
  }
  const float* tensor(const std::string& name) const {
    const DenseTensor* t = model.find_tensor(name);
    EXPECT_NE(t, nullptr) << name;
    return params.data() + t->offset;
  }
  HybridModel model;
  std::vector<float> params, item_vecs;
};

// The reference weights of one left-padded history.
std::vector<double> reference(const WeightedModel& s, const std::vector<int64_t>& hist) {
  const ModelConfig& c = s.model.config();
  const int64_t d = c.dim, heads = c.heads, hd = d / heads, f = c.ffn_mult * d;
  std::vector<int64_t> slots;
  for (int64_t l = 0; l < kLen; ++l) {
    if (hist[l] >= 0) slots.push_back(l);
  }
  const int64_t n = static_cast<int64_t>(slots.size());
  std::vector<double> out(kLen, 0.0);
  if (n == 0) return out;
  std::vector<float> x(static_cast<std::size_t>(n * d));
  const float* pos = s.tensor("positions");
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t k = 0; k < d; ++k) {
      x[r * d + k] = s.item_vecs[hist[slots[r]] * d + k] + pos[slots[r] * d + k];
    }
  }
  nn::BlockShape shape;
  shape.dim = d;
  shape.heads = heads;
  shape.hidden = f;
  shape.eps = 1e-5f;
  const nn::LengthGroup group{n, 1, 0};
  const nn::PackedRows packed{n, &group, 1};
  nn::BlockInferenceScratch scratch;
  for (int64_t layer = 0; layer + 1 < c.layers; ++layer) {
    const std::string p = "encoder." + std::to_string(layer) + ".";
    nn::BlockWeights w;
    nn::set_fused_qkv(d, s.tensor(p + "qkv.weight"), s.tensor(p + "qkv.bias"), &w);
    w.out_w = s.tensor(p + "out.weight");
    w.out_b = s.tensor(p + "out.bias");
    w.ln1_g = s.tensor(p + "ln1.gamma");
    w.ln1_b = s.tensor(p + "ln1.beta");
    w.ffn1_w = s.tensor(p + "ffn1.weight");
    w.ffn1_b = s.tensor(p + "ffn1.bias");
    w.ffn2_w = s.tensor(p + "ffn2.weight");
    w.ffn2_b = s.tensor(p + "ffn2.bias");
    w.ln2_g = s.tensor(p + "ln2.gamma");
    w.ln2_b = s.tensor(p + "ln2.beta");
    nn::block_inference(kernels::Device::cpu(), shape, w, packed, x.data(), &scratch, x.data());
  }
  const std::string p = "encoder." + std::to_string(c.layers - 1) + ".";
  const float* qkv = s.tensor(p + "qkv.weight");
  const float* bias = s.tensor(p + "qkv.bias");
  // q = Wq x + bq, k = Wk x + bk; the fused weight holds Q's rows, then K's.
  std::vector<double> q(static_cast<std::size_t>(n * d)), k(q.size());
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t o = 0; o < d; ++o) {
      double qa = bias[o], ka = bias[d + o];
      for (int64_t i = 0; i < d; ++i) {
        qa += static_cast<double>(qkv[o * d + i]) * x[r * d + i];
        ka += static_cast<double>(qkv[(d + o) * d + i]) * x[r * d + i];
      }
      q[r * d + o] = qa;
      k[r * d + o] = ka;
    }
  }
  const int64_t first = c.pooling == HistoryPooling::kLast ? n - 1 : 0;
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = first; i < n; ++i) {
      std::vector<double> e(static_cast<std::size_t>(n));
      double sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        double dot = 0;
        for (int64_t t = 0; t < hd; ++t) dot += q[i * d + h * hd + t] * k[j * d + h * hd + t];
        e[j] = std::exp(dot / std::sqrt(static_cast<double>(hd)));
        sum += e[j];
      }
      for (int64_t j = 0; j < n; ++j) {
        out[slots[j]] += e[j] / sum / static_cast<double>(heads * (n - first));
      }
    }
  }
  return out;
}

// Histories: full, left-padded, one item twice, one item, none.
const std::vector<std::vector<int64_t>> kHistories = {
    {3, 7, 11, 2}, {-1, -1, 5, 9}, {-1, 4, 4, 13}, {-1, -1, -1, 6}, {-1, -1, -1, -1}};

std::vector<float> weights_of(const WeightedModel& s) {
  std::vector<int64_t> flat;
  for (const auto& h : kHistories) flat.insert(flat.end(), h.begin(), h.end());
  std::vector<float> w(flat.size(), -7.0f);  // garbage: must be overwritten
  s.model.history_weights(s.params.data(), static_cast<int64_t>(kHistories.size()), flat.data(),
                          s.item_vecs.data(), w.data());
  return w;
}

void expect_reference(const ModelConfig& c) {
  const WeightedModel s(c);
  const std::vector<float> w = weights_of(s);
  double spread = 0;  // how far from uniform the first history is
  for (std::size_t u = 0; u < kHistories.size(); ++u) {
    const std::vector<double> want = reference(s, kHistories[u]);
    double sum = 0;
    for (int64_t l = 0; l < kLen; ++l) {
      EXPECT_NEAR(w[u * kLen + l], want[l], 1e-5) << "history " << u << " slot " << l;
      sum += w[u * kLen + l];
      if (u == 0) spread = std::max(spread, std::abs(want[l] - 0.25));
    }
    EXPECT_NEAR(sum, u + 1 == kHistories.size() ? 0.0 : 1.0, 1e-5) << "history " << u;
  }
  EXPECT_GT(spread, 0.02) << "the attention is close to uniform: the test would not tell";
}

TEST(HistoryWeights, OneLayerMeanPoolingIsTheAttentionAveragedOverHeadsAndQueries) {
  expect_reference(config(1, HistoryPooling::kMean));
}

TEST(HistoryWeights, TwoLayersReadTheLastLayersAttention) {
  expect_reference(config(2, HistoryPooling::kMean));
}

TEST(HistoryWeights, LastPoolingReadsTheMostRecentQueryOnly) {
  expect_reference(config(2, HistoryPooling::kLast));
}

TEST(HistoryWeights, WithoutAttentionEveryRealSlotWeighsTheSame) {
  for (const ModelConfig& c : {config(0, HistoryPooling::kMean), [] {
                                 ModelConfig off = config(1, HistoryPooling::kMean);
                                 off.use_history = false;
                                 return off;
                               }()}) {
    const std::vector<float> w = weights_of(WeightedModel(c));
    const std::vector<float> want = {0.25f, 0.25f, 0.25f,    0.25f,    0,        0, 0.5f,
                                     0.5f,  0,     1.0f / 3, 1.0f / 3, 1.0f / 3, 0, 0,
                                     0,     1,     0,        0,        0,        0};
    ASSERT_EQ(w.size(), want.size());
    for (std::size_t i = 0; i < w.size(); ++i) EXPECT_FLOAT_EQ(w[i], want[i]) << "entry " << i;
  }
}

}  // namespace
}  // namespace hybrec::trainer

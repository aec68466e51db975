// A synthetic catalogue in the serving scoring space, shaped like a trained
// model's: d = 64 CF dimensions and T = 64 text dimensions (D = 128), items
// and users drawn around 1,024 shared cluster centres (trained embeddings
// cluster; uniform noise would make every IVF list equally likely and say
// nothing about an index), unit text vectors, and the form
// B = blockdiag(cf * W, text * I) of model_snapshot.h with W = I + noise,
// lambda = 1 and text_scale = 4.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "serving/model_snapshot.h"

namespace hybrec::bench {

inline constexpr int64_t kCfDim = 64, kTextDim = 64, kScoreDim = kCfDim + kTextDim;
inline constexpr int64_t kClusters = 1024;

class CatalogueDraw {
 public:
  explicit CatalogueDraw(uint64_t seed) : rng_(seed), centres_(kClusters * kScoreDim) {
    for (float& c : centres_) c = normal_(rng_);
  }
  // One scoring-space row [v, t]: a centre plus noise, its text half unit length.
  void row(float* out) {
    const float* c = centres_.data() + pick_(rng_) * kScoreDim;
    for (int64_t i = 0; i < kScoreDim; ++i) out[i] = c[i] + 1.0f * normal_(rng_);
    double norm = 0;
    for (int64_t i = kCfDim; i < kScoreDim; ++i) norm += static_cast<double>(out[i]) * out[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (int64_t i = kCfDim; i < kScoreDim; ++i) out[i] *= inv;
  }

 private:
  std::mt19937_64 rng_;
  std::normal_distribution<float> normal_{0.0f, 1.0f};
  std::uniform_int_distribution<int64_t> pick_{0, kClusters - 1};
  std::vector<float> centres_;
};

// A snapshot with only what scoring reads (no model): the item matrix and B.
inline std::unique_ptr<serving::ModelSnapshot> synthetic_snapshot(int64_t num_items,
                                                                  CatalogueDraw& draw) {
  auto s = std::make_unique<serving::ModelSnapshot>();
  s->num_items = num_items;
  s->dim = kCfDim;
  s->text_dim = kTextDim;
  s->score_dim = kScoreDim;
  s->scoring_items.resize(static_cast<std::size_t>(num_items * kScoreDim));
  for (int64_t j = 0; j < num_items; ++j) draw.row(s->scoring_items.data() + j * kScoreDim);
  const float lambda = 1.0f, text_scale = 4.0f;
  s->cf_weight = 1.0f / std::sqrt(1.0f + lambda * lambda);
  s->text_weight = lambda * text_scale * s->cf_weight;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> noise(0.0f, 0.1f);
  s->scoring_form.assign(static_cast<std::size_t>(kScoreDim * kScoreDim), 0.0f);
  for (int64_t i = 0; i < kCfDim; ++i) {
    for (int64_t j = 0; j < kCfDim; ++j) {
      s->scoring_form[i * kScoreDim + j] = ((i == j ? 1.0f : 0.0f) + noise(rng)) * s->cf_weight;
    }
  }
  for (int64_t i = kCfDim; i < kScoreDim; ++i) s->scoring_form[i * kScoreDim + i] = s->text_weight;
  return s;
}

}  // namespace hybrec::bench

// A tiny batch that exercises every edge of the model: a left-padded
// history, an empty history, an item repeated inside one history, items that
// are both history items and candidates, a user that appears twice, and an
// item whose text vector is zero.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "trainer/model/batch.h"
#include "trainer/model/counter_rng.h"
#include "trainer/model/model_config.h"

namespace hybrec::trainer::testing {

inline constexpr int64_t kNumGlobalItems = 20;
inline constexpr int64_t kNumGlobalUsers = 5;

inline ModelConfig tiny_config() {
  ModelConfig c;
  c.dim = 8;
  c.text_dim = 6;
  c.history_len = 4;
  c.layers = 2;
  c.heads = 2;
  c.ffn_mult = 2;
  c.lambda_init = 0.7f;
  return c;
}

inline Batch tiny_batch() {
  Batch b;
  b.size = 3;
  b.candidates = 3;
  b.history_len = 4;
  b.user_ids = {3, 1};
  b.item_ids = {10, 11, 12, 13, 14, 15};
  b.user_slot = {0, 1, 0};
  b.hist_slot = {-1, 0,  1,  2,   // padded; item 12 is also a candidate below
                 -1, -1, -1, -1,  // no history
                 3,  0,  4,  0};  // full; item 10 twice, item 14 also a candidate
  b.cand_slot = {2, 3, 5,         //
                 0, 4, 1,         //
                 4, 5, 2};
  b.log_q = {0.0f, -1.5f, -2.0f, 0.0f, -0.7f, -3.0f, 0.0f, -1.1f, -0.4f};
  return b;
}

// Values in [-scale, scale), a pure function of (seed, i).
inline std::vector<float> random_values(uint64_t seed, int64_t n, float scale) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    v[static_cast<std::size_t>(i)] =
        (2.0f * counter_uniform(seed, 7, static_cast<uint64_t>(i)) - 1.0f) * scale;
  }
  return v;
}

// Unit text rows for every global item, except item 15's, which is zero.
inline std::vector<float> tiny_text(int64_t text_dim) {
  std::vector<float> t = random_values(99, kNumGlobalItems * text_dim, 1.0f);
  for (int64_t i = 0; i < kNumGlobalItems; ++i) {
    float* row = t.data() + i * text_dim;
    float sq = 0.0f;
    for (int64_t k = 0; k < text_dim; ++k) sq += row[k] * row[k];
    for (int64_t k = 0; k < text_dim; ++k) row[k] = i == 15 ? 0.0f : row[k] / std::sqrt(sq);
  }
  return t;
}

}  // namespace hybrec::trainer::testing

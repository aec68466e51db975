// Scores every item for evaluation users with the trained hybrid model: item
// vectors for the whole catalogue once, then per block of users their state
// u' and text query, and z' against every item (HybridModel::score_items).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/eval/ranking.h"
#include "trainer/model/hybrid_model.h"

namespace hybrec::trainer {

// Blocking fetch of rows [n, dim] of an id table ("user" or "item") for keys[0..n).
using RowFetcher =
    std::function<void(const std::string& table, const int64_t* keys, int64_t n, float* out)>;

class ModelScorer : public Scorer {
 public:
  // `params` must stay alive and unchanged while scoring. Pulls every item row
  // (in chunks) when the model uses id embeddings.
  ModelScorer(const HybridModel& model, const float* params, const Dataset& data, RowFetcher fetch);
  void score(const EvalCase* cases, int64_t n, float* scores) override;

 private:
  const HybridModel& model_;
  const float* params_;
  const Dataset& data_;
  RowFetcher fetch_;
  std::vector<float> item_vecs_;  // [num_items, dim]
  std::vector<uint8_t> unseen_;   // [num_items] items without a trained row; empty without ids
  std::vector<int64_t> users_, history_;
  std::vector<float> user_rows_, user_states_, queries_;
};

}  // namespace hybrec::trainer

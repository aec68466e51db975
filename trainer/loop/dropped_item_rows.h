// ID dropout with text neighbours (ModelConfig::unseen_item_neighbors in
// training). An item whose id row a step drops takes the mean row of its K
// nearest trained items by text, itself excluded, instead of zero. That is
// the stand-in an untrained item gets when ranking (neighbor_rows.h), so the
// model learns to score the rows it will be given for new items. On the
// shipped configs this lifted cold and cold_all HR@10 on both development
// datasets (BENCHMARKS.md). The rows are read from the parameter server at
// the step and enter the model as constants (HybridModel::StepInputs::
// dropped_item_rows).
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/eval/model_scorer.h"
#include "trainer/loop/examples.h"
#include "trainer/model/batch.h"
#include "trainer/model/model_config.h"

namespace hybrec::trainer {

class DroppedItemRows {
 public:
  // Active when the model uses text neighbours (uses_text_neighbors), drops
  // id rows (id_dropout > 0), and the data has text vectors. The neighbours are the items with a
  // training event in set, found once here (one all-items top-k over the text).
  DroppedItemRows(const ModelConfig& config, const Dataset& data, const TrainingSet& set);

  bool active() const { return k_ > 0; }
  int64_t k() const { return k_; }
  // The item's neighbours, nearest first (-1 past the number found).
  const int64_t* neighbors(int64_t item) const { return lists_.data() + item * k_; }

  // For the batch's items, the rows [item_ids, dim] the model gives a
  // dropped item: where id_keep(dropout_seed, id, id_dropout) is 0, the mean
  // of the neighbours' rows (read through fetch); elsewhere zero. An item
  // beyond the catalogue this was built for (one that arrived on a stream)
  // has no neighbours and gets zero, as without this. Returns rows->data(),
  // or nullptr when inactive or no item is dropped.
  const float* fill(const Batch& batch, uint64_t dropout_seed, const RowFetcher& fetch,
                    std::vector<float>* rows);

 private:
  int64_t k_ = 0, dim_ = 0, num_items_ = 0;
  float id_dropout_ = 0.0f;
  std::vector<int64_t> lists_;  // [num_items, k]
  // fill's scratch: the dropped items' batch slots, the neighbour keys read,
  // and per (slot, neighbour) the key's index in keys_ (-1: none).
  std::vector<int64_t> slots_, keys_, index_;
  std::vector<float> fetched_;
};

}  // namespace hybrec::trainer

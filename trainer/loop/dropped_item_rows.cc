#include "trainer/loop/dropped_item_rows.h"

#include <algorithm>

#include "trainer/model/id_tables.h"
#include "trainer/model/item_tower.h"
#include "trainer/model/neighbor_rows.h"

namespace hybrec::trainer {

DroppedItemRows::DroppedItemRows(const ModelConfig& config, const Dataset& data,
                                 const TrainingSet& set) {
  const bool text_side = config.use_text || config.use_text_score;
  if (config.unseen_item_neighbors <= 0 || !config.use_id || config.id_dropout <= 0.0f ||
      !text_side || data.text_dim <= 0 || data.item_text_emb.empty()) {
    return;
  }
  k_ = config.unseen_item_neighbors;
  dim_ = config.dim;
  id_dropout_ = config.id_dropout;
  num_items_ = data.num_items;
  std::vector<int64_t> all(static_cast<std::size_t>(num_items_));
  std::vector<uint8_t> trained(static_cast<std::size_t>(num_items_));
  for (int64_t j = 0; j < num_items_; ++j) {
    all[j] = j;
    trained[j] = set.item_count[static_cast<std::size_t>(j)] > 0;
  }
  // k + 1 nearest, so that k remain when the item itself is among them.
  const std::vector<int64_t> near =
      nearest_by_text(data.item_text_emb.data(), data.text_dim, num_items_, all, trained, k_ + 1);
  lists_.assign(static_cast<std::size_t>(num_items_ * k_), -1);
  for (int64_t j = 0; j < num_items_; ++j) {
    int64_t kept = 0;
    for (int64_t m = 0; m <= k_ && kept < k_; ++m) {
      const int64_t id = near[static_cast<std::size_t>(j * (k_ + 1) + m)];
      if (id != j) lists_[static_cast<std::size_t>(j * k_ + kept++)] = id;
    }
  }
}

const float* DroppedItemRows::fill(const Batch& batch, uint64_t dropout_seed,
                                   const RowFetcher& fetch, std::vector<float>* rows) {
  if (!active()) return nullptr;
  const auto items = static_cast<int64_t>(batch.item_ids.size());
  keys_.clear();
  slots_.clear();
  for (int64_t i = 0; i < items; ++i) {
    const int64_t id = batch.item_ids[static_cast<std::size_t>(i)];
    if (id < 0 || id >= num_items_ || id_keep(dropout_seed, id, id_dropout_) != 0.0f) continue;
    slots_.push_back(i);
    for (int64_t m = 0; m < k_; ++m) keys_.push_back(neighbors(id)[m]);
  }
  if (slots_.empty()) return nullptr;
  // Fetch the valid keys only; -1 slots stay -1 for mean_of_rows.
  std::vector<int64_t> valid;
  std::vector<int64_t> index(keys_.size(), -1);
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] < 0) continue;
    index[i] = static_cast<int64_t>(valid.size());
    valid.push_back(keys_[i]);
  }
  fetched_.resize(valid.size() * static_cast<std::size_t>(dim_));
  if (!valid.empty())
    fetch(kItemTable, valid.data(), static_cast<int64_t>(valid.size()), fetched_.data());
  rows->assign(static_cast<std::size_t>(items * dim_), 0.0f);
  for (std::size_t q = 0; q < slots_.size(); ++q) {
    mean_of_rows(fetched_.data(), dim_, index.data() + q * static_cast<std::size_t>(k_), k_,
                 rows->data() + slots_[q] * dim_);
  }
  return rows->data();
}

}  // namespace hybrec::trainer

#include "trainer/loop/dropped_item_rows.h"

#include <algorithm>

#include "trainer/model/id_tables.h"
#include "trainer/model/item_tower.h"
#include "trainer/model/neighbor_rows.h"

namespace hybrec::trainer {

DroppedItemRows::DroppedItemRows(const ModelConfig& config, const Dataset& data,
                                 const TrainingSet& set) {
  if (!uses_text_neighbors(config) || config.id_dropout <= 0.0f || data.text_dim <= 0 ||
      data.item_text_emb.empty()) {
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
  slots_.clear();
  keys_.clear();
  index_.clear();
  for (int64_t i = 0; i < items; ++i) {
    const int64_t id = batch.item_ids[static_cast<std::size_t>(i)];
    if (id < 0 || id >= num_items_ || id_keep(dropout_seed, id, id_dropout_) != 0.0f) continue;
    slots_.push_back(i);
    // Only real neighbours are read; a -1 slot stays -1 for mean_of_rows.
    for (int64_t m = 0; m < k_; ++m) {
      const int64_t nb = neighbors(id)[m];
      index_.push_back(nb < 0 ? -1 : static_cast<int64_t>(keys_.size()));
      if (nb >= 0) keys_.push_back(nb);
    }
  }
  if (slots_.empty()) return nullptr;
  fetched_.resize(keys_.size() * static_cast<std::size_t>(dim_));
  if (!keys_.empty()) {
    fetch(kItemTable, keys_.data(), static_cast<int64_t>(keys_.size()), fetched_.data());
  }
  rows->assign(static_cast<std::size_t>(items * dim_), 0.0f);
  for (std::size_t q = 0; q < slots_.size(); ++q) {
    mean_of_rows(fetched_.data(), dim_, index_.data() + q * static_cast<std::size_t>(k_), k_,
                 rows->data() + slots_[q] * dim_);
  }
  return rows->data();
}

}  // namespace hybrec::trainer

#include "trainer/eval/model_scorer.h"

#include <algorithm>

#include "trainer/model/id_tables.h"
#include "trainer/model/neighbor_rows.h"

namespace hybrec::trainer {

namespace {
constexpr int64_t kFetchChunk = 65536;
}

ModelScorer::ModelScorer(const HybridModel& model, const float* params, const Dataset& data,
                         RowFetcher fetch)
    : model_(model), params_(params), data_(data), fetch_(std::move(fetch)) {
  const int64_t dim = model.config().dim, num_items = data.num_items;
  std::vector<int64_t> ids(static_cast<std::size_t>(num_items));
  for (int64_t j = 0; j < num_items; ++j) ids[j] = j;
  std::vector<float> rows;
  if (model.config().use_id) {
    rows.resize(static_cast<std::size_t>(num_items * dim));
    for (int64_t first = 0; first < num_items; first += kFetchChunk) {
      const int64_t n = std::min(kFetchChunk, num_items - first);
      fetch_(kItemTable, ids.data() + first, n, rows.data() + first * dim);
    }
  }
  item_vecs_.resize(static_cast<std::size_t>(num_items * dim));
  unseen_ = prepare_item_rows_for_ranking(
      model.config(), data.item_text_emb.empty() ? nullptr : data.item_text_emb.data(),
      rows.empty() ? 0 : num_items, rows.data());
  model.item_vectors(params, num_items, ids.data(), rows.empty() ? nullptr : rows.data(),
                     data.item_text_emb.empty() ? nullptr : data.item_text_emb.data(),
                     rows.empty() ? nullptr : unseen_.data(), item_vecs_.data());
}

void ModelScorer::score(const EvalCase* cases, int64_t n, float* scores) {
  const ModelConfig& c = model_.config();
  const int64_t dim = c.dim, L = c.history_len, T = std::max<int64_t>(c.text_dim, 1);
  users_.resize(static_cast<std::size_t>(n));
  history_.resize(static_cast<std::size_t>(n * L));
  for (int64_t i = 0; i < n; ++i) {
    users_[i] = cases[i].user;
    std::copy(cases[i].history.begin(), cases[i].history.end(), history_.begin() + i * L);
  }
  user_rows_.assign(static_cast<std::size_t>(n * dim), 0.0f);
  if (c.use_id) fetch_(kUserTable, users_.data(), n, user_rows_.data());
  user_states_.resize(static_cast<std::size_t>(n * dim));
  queries_.resize(static_cast<std::size_t>(n * T));
  const float* text = data_.item_text_emb.empty() ? nullptr : data_.item_text_emb.data();
  model_.user_states(params_, n, user_rows_.data(), history_.data(), item_vecs_.data(), text,
                     user_states_.data(), queries_.data());
  model_.score_items(params_, n, user_states_.data(), queries_.data(), data_.num_items,
                     item_vecs_.data(), text, unseen_.empty() ? nullptr : unseen_.data(), scores);
}

}  // namespace hybrec::trainer

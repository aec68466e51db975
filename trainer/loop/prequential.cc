#include "trainer/loop/prequential.h"

#include <algorithm>

#include "trainer/model/id_tables.h"
#include "trainer/model/neighbor_rows.h"

namespace hybrec::trainer {

int64_t prequential_hits(const HybridModel& model, const float* params, const RowFetcher& fetch,
                         const StreamState& state, const std::vector<ExampleSpec>& examples,
                         const std::vector<std::vector<int64_t>>& seen, int64_t k,
                         TextNeighborCache* neighbors) {
  if (examples.empty()) return 0;
  const ModelConfig& c = model.config();
  const int64_t dim = c.dim, L = c.history_len, T = std::max<int64_t>(c.text_dim, 1);
  const int64_t items = state.item_rows(), n = static_cast<int64_t>(examples.size());
  std::vector<int64_t> ids(static_cast<std::size_t>(items));
  for (int64_t j = 0; j < items; ++j) ids[j] = j;
  std::vector<float> item_rows;
  if (c.use_id) {
    item_rows.resize(static_cast<std::size_t>(items * dim));
    fetch(kItemTable, ids.data(), items, item_rows.data());
  }
  std::vector<float> item_vecs(static_cast<std::size_t>(items * dim));
  const std::vector<uint8_t> unseen = prepare_item_rows_for_ranking(
      c, state.text_emb(), item_rows.empty() ? 0 : items, item_rows.data(), neighbors);
  model.item_vectors(params, items, ids.data(), item_rows.empty() ? nullptr : item_rows.data(),
                     state.text_emb(), unseen.data(), item_vecs.data());

  std::vector<int64_t> users(static_cast<std::size_t>(n)), history(static_cast<std::size_t>(n * L));
  for (int64_t i = 0; i < n; ++i) {
    const ExampleSpec& e = examples[i];
    users[i] = e.user;
    int64_t* h = history.data() + i * L;
    const int64_t len = std::min(e.history_size, L);
    std::fill(h, h + (L - len), -1);
    std::copy(e.history + e.history_size - len, e.history + e.history_size, h + (L - len));
  }
  std::vector<float> user_rows(static_cast<std::size_t>(n * dim), 0.0f);
  if (c.use_id) fetch(kUserTable, users.data(), n, user_rows.data());
  std::vector<float> states(static_cast<std::size_t>(n * dim)),
      queries(static_cast<std::size_t>(n * T));
  model.user_states(params, n, user_rows.data(), history.data(), item_vecs.data(), state.text_emb(),
                    states.data(), queries.data());
  std::vector<float> scores(static_cast<std::size_t>(n * items));
  model.score_items(params, n, states.data(), queries.data(), items, item_vecs.data(),
                    state.text_emb(), unseen.empty() ? nullptr : unseen.data(), scores.data());

  int64_t hits = 0;
  std::vector<uint8_t> excluded(static_cast<std::size_t>(items), 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t target = examples[i].target;
    for (int64_t j : seen[i]) excluded[j] = 1;
    const float* row = scores.data() + i * items;
    const float mine = row[target];
    int64_t above = 0;
    for (int64_t j = 0; j < items && above < k; ++j) {
      if (j != target && !excluded[j] && row[j] >= mine) ++above;
    }
    hits += above < k;
    for (int64_t j : seen[i]) excluded[j] = 0;
  }
  return hits;
}

}  // namespace hybrec::trainer

#include "serving/request_vectors.h"

#include <algorithm>
#include <cmath>

#include "trainer/model/id_tables.h"

namespace hybrec::serving {

RequestVectors request_vectors(const ModelSnapshot& s,
                               const std::vector<RecommendRequest>& requests,
                               const trainer::RowFetcher& fetch_user_rows,
                               const Histories& histories, const QueryEncoder* queries) {
  const trainer::ModelConfig& c = s.model->config();
  const int64_t n = static_cast<int64_t>(requests.size());
  RequestVectors out;
  out.new_user.resize(requests.size());
  const int64_t d = s.dim, t = s.text_dim, D = s.score_dim, len = c.history_len;

  // Histories, exclusions and the users whose rows to pull.
  std::vector<int64_t> history(static_cast<std::size_t>(n * len), -1);
  std::vector<int64_t>& exclude_offsets = out.exclude_offsets;
  std::vector<int64_t>& excluded = out.exclude_items;
  exclude_offsets.assign(static_cast<std::size_t>(n + 1), 0);
  std::vector<int64_t> pull_keys, pull_slots;
  for (int64_t i = 0; i < n; ++i) {
    const RecommendRequest& r = requests[i];
    const bool known = r.user >= 0 && histories.known(r.user);
    out.new_user[i] = !known;
    // The history in catalogue slots; a streamed item this snapshot does
    // not have yet is left out until the next rebuild adds it.
    std::vector<int64_t> items;
    if (known) {
      for (const int64_t id : histories.items(r.user)) {
        const int64_t slot = s.slot_of(id);
        if (slot >= 0) items.push_back(slot);
      }
    }
    for (const int64_t id : r.recent_items) items.push_back(s.slot_of(id));
    const int64_t take = std::min<int64_t>(len, static_cast<int64_t>(items.size()));
    std::copy(items.end() - take, items.end(), history.begin() + i * len + (len - take));
    if (r.exclude_seen) excluded.insert(excluded.end(), items.begin(), items.end());
    for (const int64_t id : r.exclude_items) excluded.push_back(s.slot_of(id));
    exclude_offsets[i + 1] = static_cast<int64_t>(excluded.size());
    if (known && c.use_id) {
      pull_keys.push_back(r.user);
      pull_slots.push_back(i);
    }
  }

  std::vector<float> user_rows(static_cast<std::size_t>(n * d), 0.0f);
  if (!pull_keys.empty()) {
    std::vector<float> pulled(pull_keys.size() * static_cast<std::size_t>(d));
    fetch_user_rows(trainer::kUserTable, pull_keys.data(), static_cast<int64_t>(pull_keys.size()),
                    pulled.data());
    for (std::size_t p = 0; p < pull_slots.size(); ++p) {
      std::copy_n(pulled.data() + p * d, d, user_rows.data() + pull_slots[p] * d);
    }
  }

  std::vector<float>& states = out.states;
  states.resize(static_cast<std::size_t>(n * d));
  std::vector<float> hist_queries(static_cast<std::size_t>(n * std::max<int64_t>(t, 1)), 0.0f);
  s.model->user_states(s.params.data(), n, user_rows.data(), history.data(), s.item_vecs.data(),
                       s.text_emb.empty() ? nullptr : s.text_emb.data(), states.data(),
                       hist_queries.data());

  // The scoring space's user side [u', q].
  std::vector<float>& users = out.users;
  users.assign(static_cast<std::size_t>(n * D), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(states.data() + i * d, d, users.data() + i * D);
    if (s.boosts_new_items()) users[static_cast<std::size_t>(i * D + D - 1)] = 1.0f;
    if (!s.has_text_score()) continue;
    float* q = users.data() + i * D + d;
    std::copy_n(hist_queries.data() + i * t, t, q);
    if (!requests[i].query.empty()) {
      const std::vector<float> typed = queries->encode(requests[i].query);
      double norm = 0;
      for (int64_t j = 0; j < t; ++j) {
        q[j] += typed[j];
        norm += static_cast<double>(q[j]) * q[j];
      }
      if (norm > 0) {
        const float inv = static_cast<float>(1.0 / std::sqrt(norm));
        for (int64_t j = 0; j < t; ++j) q[j] *= inv;
      }
    }
  }
  return out;
}

}  // namespace hybrec::serving

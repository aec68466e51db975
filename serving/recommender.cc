#include "serving/recommender.h"

#include <algorithm>
#include <cmath>

#include "hybrec/kernels/bilinear.h"
#include "trainer/model/id_tables.h"

namespace hybrec::serving {

namespace {

namespace k = hybrec::kernels;

void check_item(const std::string& what, const std::string& where, int64_t item,
                const ModelSnapshot& s) {
  if (s.slot_of(item) < 0) {
    throw BadRequest(where + what + " " + std::to_string(item) +
                         " is not an item of the catalogue (" + std::to_string(s.num_items) +
                         " items: ids [0, " + std::to_string(s.base_items) + ") and " +
                         std::to_string(s.num_items - s.base_items) + " that arrived since)",
                     __FILE__, __LINE__);
  }
}

// `where`: "" for a single request, "request 3: " in a batch.
void check_request(const RecommendRequest& r, const std::string& where, const ModelSnapshot& s,
                   const QueryEncoder* queries) {
  const auto fail = [&](const std::string& why) {
    throw BadRequest(where + why, __FILE__, __LINE__);
  };
  if (r.k < 1 || r.k > s.num_items) {
    fail("k = " + std::to_string(r.k) + " must be in [1, " + std::to_string(s.num_items) + "]");
  }
  for (const int64_t item : r.recent_items) check_item("recent item", where, item, s);
  for (const int64_t item : r.exclude_items) check_item("excluded item", where, item, s);
  if (!r.query.empty()) {
    if (!s.has_text_score()) fail("a query needs a model with a text score; this one has none");
    if (queries == nullptr) fail("this server has no query encoder");
  }
}

}  // namespace

Recommender::Recommender(std::shared_ptr<const ModelSnapshot> first, trainer::RowFetcher user_rows,
                         const Histories& histories, const QueryEncoder* queries)
    : current_(std::move(first)),
      user_rows_(std::move(user_rows)),
      histories_(histories),
      queries_(queries) {
  HYBREC_CHECK(current_ != nullptr, "Recommender: no model snapshot");
}

void Recommender::validate(const RecommendRequest& request) const {
  check_request(request, "", *snapshot(), queries_);
}

std::shared_ptr<const ModelSnapshot> Recommender::snapshot() const {
  return std::atomic_load(&current_);
}

void Recommender::swap(std::shared_ptr<const ModelSnapshot> next) {
  HYBREC_CHECK(next != nullptr, "Recommender::swap: no model snapshot");
  std::atomic_store(&current_, std::move(next));
}

std::vector<RecommendReply> Recommender::recommend(
    const std::vector<RecommendRequest>& requests) const {
  const std::shared_ptr<const ModelSnapshot> snap = snapshot();
  const ModelSnapshot& s = *snap;
  const trainer::ModelConfig& c = s.model->config();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    check_request(requests[i], requests.size() == 1 ? "" : "request " + std::to_string(i) + ": ", s,
                  queries_);
  }
  const int64_t n = static_cast<int64_t>(requests.size());
  std::vector<RecommendReply> replies(requests.size());
  if (n == 0) return replies;
  const int64_t d = s.dim, t = s.text_dim, D = s.score_dim, len = c.history_len;

  // Histories, exclusions and the users whose rows to pull.
  std::vector<int64_t> history(static_cast<std::size_t>(n * len), -1);
  std::vector<int64_t> exclude_offsets(static_cast<std::size_t>(n + 1), 0);
  std::vector<int64_t> excluded;
  std::vector<int64_t> pull_keys, pull_slots;
  for (int64_t i = 0; i < n; ++i) {
    const RecommendRequest& r = requests[i];
    const bool known = r.user >= 0 && histories_.known(r.user);
    replies[i].new_user = !known;
    replies[i].snapshot_version = s.version;
    // The history in catalogue slots; a streamed item this snapshot does
    // not have yet is left out until the next rebuild adds it.
    std::vector<int64_t> items;
    if (known) {
      for (const int64_t id : histories_.items(r.user)) {
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
    user_rows_(trainer::kUserTable, pull_keys.data(), static_cast<int64_t>(pull_keys.size()),
               pulled.data());
    for (std::size_t p = 0; p < pull_slots.size(); ++p) {
      std::copy_n(pulled.data() + p * d, d, user_rows.data() + pull_slots[p] * d);
    }
  }

  std::vector<float> states(static_cast<std::size_t>(n * d));
  std::vector<float> hist_queries(static_cast<std::size_t>(n * std::max<int64_t>(t, 1)), 0.0f);
  s.model->user_states(s.params.data(), n, user_rows.data(), history.data(), s.item_vecs.data(),
                       s.text_emb.empty() ? nullptr : s.text_emb.data(), states.data(),
                       hist_queries.data());

  // The scoring space's user side [u', q].
  std::vector<float> users(static_cast<std::size_t>(n * D), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(states.data() + i * d, d, users.data() + i * D);
    if (!s.has_text_score()) continue;
    float* q = users.data() + i * D + d;
    std::copy_n(hist_queries.data() + i * t, t, q);
    if (!requests[i].query.empty()) {
      const std::vector<float> typed = queries_->encode(requests[i].query);
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

  int64_t max_k = 0;
  for (const RecommendRequest& r : requests) max_k = std::max(max_k, r.k);
  std::vector<int64_t> top_items(static_cast<std::size_t>(n * max_k));
  std::vector<float> top_scores(static_cast<std::size_t>(n * max_k));
  k::AllItemsTopKParams<int64_t> p;
  p.num_users = n;
  p.num_items = s.num_items;
  p.dim = D;
  p.k = max_k;
  p.users = users.data();
  p.items = s.scoring_items.data();
  p.w = s.scoring_form.data();
  p.exclude_offsets = exclude_offsets.data();
  p.exclude_items = excluded.data();
  p.top_items = top_items.data();
  p.top_scores = top_scores.data();
  k::all_items_topk(k::Device::cpu(), p);

  // The CF and text parts of each result: (W^T-side) u'^T W v_j and q . t_j.
  const trainer::DenseTensor* w = s.model->find_tensor("bilinear");
  const float* W = s.params.data() + w->offset;
  std::vector<float> uw(static_cast<std::size_t>(d));
  for (int64_t i = 0; i < n; ++i) {
    const float* u = states.data() + i * d;
    for (int64_t b = 0; b < d; ++b) {
      double acc = 0;
      for (int64_t a = 0; a < d; ++a) acc += static_cast<double>(u[a]) * W[a * d + b];
      uw[b] = static_cast<float>(acc);
    }
    const float* q = users.data() + i * D + d;
    for (int64_t r = 0; r < requests[i].k; ++r) {
      const int64_t item = top_items[i * max_k + r];  // a slot
      if (item < 0) break;  // exclusions left fewer than k candidates
      ScoredItem out;
      out.item = s.item_ids[item];
      out.score = top_scores[i * max_k + r];
      double cf = 0;
      const float* v = s.item_vecs.data() + item * d;
      for (int64_t b = 0; b < d; ++b) cf += static_cast<double>(uw[b]) * v[b];
      out.cf = static_cast<float>(cf) * s.cf_weight;
      if (s.has_text_score()) {
        double cos = 0;
        const float* tj = s.text_emb.data() + item * t;
        for (int64_t b = 0; b < t; ++b) cos += static_cast<double>(q[b]) * tj[b];
        out.text = static_cast<float>(cos) * s.text_weight;
      }
      replies[i].items.push_back(out);
    }
  }
  return replies;
}

}  // namespace hybrec::serving

#include "serving/recommender.h"

#include <algorithm>

#include "serving/candidates.h"
#include "serving/request_vectors.h"

namespace hybrec::serving {

namespace {

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
  if (r.explain && (r.explain_k < 1 || r.explain_k > kMaxExplainK)) {
    fail("explain_k = " + std::to_string(r.explain_k) + " must be in [1, " +
         std::to_string(kMaxExplainK) + "] (each explanation costs a decode)");
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
  for (std::size_t i = 0; i < requests.size(); ++i) {
    check_request(requests[i], requests.size() == 1 ? "" : "request " + std::to_string(i) + ": ", s,
                  queries_);
  }
  const int64_t n = static_cast<int64_t>(requests.size());
  std::vector<RecommendReply> replies(requests.size());
  if (n == 0) return replies;
  const int64_t d = s.dim, t = s.text_dim, D = s.score_dim;
  const RequestVectors x = request_vectors(s, requests, user_rows_, histories_, queries_);
  for (int64_t i = 0; i < n; ++i) {
    replies[i].new_user = x.new_user[i];
    replies[i].snapshot_version = s.version;
  }

  int64_t max_k = 0;
  for (const RecommendRequest& r : requests) max_k = std::max(max_k, r.k);
  std::vector<int64_t> top_items(static_cast<std::size_t>(n * max_k));
  std::vector<float> top_scores(static_cast<std::size_t>(n * max_k));
  // Exact scoring, or the snapshot's candidate index (serving/candidates.h).
  snapshot_topk(s, x.users.data(), n, max_k, x.exclude_offsets.data(), x.exclude_items.data(),
                top_items.data(), top_scores.data());

  // The CF and text parts of each result: (W^T-side) u'^T W v_j and q . t_j.
  const trainer::DenseTensor* w = s.model->find_tensor("bilinear");
  const float* W = s.params.data() + w->offset;
  std::vector<float> uw(static_cast<std::size_t>(d));
  for (int64_t i = 0; i < n; ++i) {
    const float* u = x.states.data() + i * d;
    for (int64_t b = 0; b < d; ++b) {
      double acc = 0;
      for (int64_t a = 0; a < d; ++a) acc += static_cast<double>(u[a]) * W[a * d + b];
      uw[b] = static_cast<float>(acc);
    }
    const float* q = x.users.data() + i * D + d;
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
      if (s.boosts_new_items() && s.scoring_items[(item + 1) * D - 1] != 0.0f) {
        out.new_item = s.new_item_boost;
      }
      replies[i].items.push_back(out);
    }
  }
  return replies;
}

}  // namespace hybrec::serving

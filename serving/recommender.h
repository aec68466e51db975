// Answers "what should this user see?" against the current ModelSnapshot.
//
// A request names any of a user, a session's recent items and query text:
//   - history: the user's items (serving/histories.h) followed by the
//     request's recent items, the last history_len of them encoded by the
//     model's history encoder exactly as in training and evaluation;
//   - u' = e_u + s_u, with e_u pulled per request (always the freshest row)
//     for a user who has events, and zero for a new user;
//   - the text query q = unit(q_history + q_text): the history's text query
//     as the model computes it, plus the encoded query text, both unit
//     vectors (so a typed query weighs as much as the whole history);
//   - every item scored by the fused score, the top k from the kernels'
//     all_items_topk, with the user's seen items and the request's
//     exclusions removed; or, when the snapshot carries a candidate index
//     (IndexKind::kFaissIvf), the index's candidates re-scored exactly
//     (serving/candidates.h).
// A batch of requests is one top-k call over the catalogue (one index
// search with the index). Each result
// carries its score split into the CF part u'^T W v_j / sqrt(1 + lambda^2)
// and the text part lambda * text_scale * cos(q, t_j) / sqrt(1 + lambda^2).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"
#include "serving/histories.h"
#include "serving/model_snapshot.h"
#include "serving/query_encoder.h"
#include "trainer/eval/model_scorer.h"

namespace hybrec::serving {

// A request the caller got wrong (k out of range, an unknown item id, a
// query for a model without a text score): the interfaces answer it as a
// client error and keep serving.
class BadRequest : public Error {
 public:
  using Error::Error;
};

struct RecommendRequest {
  int64_t user = -1;                   // -1: no account
  std::vector<int64_t> recent_items;   // a session's items, oldest first
  std::string query;                   // "" = none
  int64_t k = 10;
  bool exclude_seen = true;            // drop the user's and the session's items
  std::vector<int64_t> exclude_items;  // a filter: never return these
  // Explanations (serving/explanations.h): the first explain_k results get a
  // sentence each from the server's language model. Each costs a decode,
  // hence the cap.
  bool explain = false;
  int64_t explain_k = 3;  // in [1, kMaxExplainK]
};

inline constexpr int64_t kMaxExplainK = 10;

struct ScoredItem {
  int64_t item = -1;
  // score = cf + text + new_item: the collaborative and text parts, and
  // model.new_item_boost when the item has no trained row.
  float score = 0, cf = 0, text = 0, new_item = 0;
  // With RecommendRequest::explain, for the first explain_k results: the
  // sentence and the aspect words it was asked to use.
  bool explained = false;
  std::string explanation;
  std::vector<std::string> aspects;
};

struct RecommendReply {
  std::vector<ScoredItem> items;  // best first; at most k (fewer when exclusions leave fewer)
  bool new_user = false;          // the user had no event: history, session and query alone
  int64_t snapshot_version = 0;   // the item matrix that scored it
};

class Recommender {
 public:
  // user_rows: the user table's rows (live servers or a snapshot); may be
  // empty for a model without id embeddings. titles: [num_items] item text
  // for display. Every argument must outlive the recommender.
  Recommender(std::shared_ptr<const ModelSnapshot> first, trainer::RowFetcher user_rows,
              const Histories& histories, const QueryEncoder* queries);

  // Throws BadRequest naming the problem when `request` cannot be answered
  // by the current snapshot.
  void validate(const RecommendRequest& request) const;

  // Validates every request first (BadRequest naming the request and the
  // problem), then scores them together.
  std::vector<RecommendReply> recommend(const std::vector<RecommendRequest>& requests) const;

  // The version requests now start with; swap() installs a newer one
  // without waiting for requests in flight.
  std::shared_ptr<const ModelSnapshot> snapshot() const;
  void swap(std::shared_ptr<const ModelSnapshot> next);

 private:
  std::shared_ptr<const ModelSnapshot> current_;  // std::atomic_load/store
  trainer::RowFetcher user_rows_;
  const Histories& histories_;
  const QueryEncoder* queries_;
};

}  // namespace hybrec::serving

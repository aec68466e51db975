// The user side of a batch of requests in a snapshot's scoring space: each
// request's history, user row and query turned into x = [u', q] (see
// recommender.h for what goes into them), and its exclusions. The
// recommender scores these; building a snapshot's index measures its recall
// on them.
#pragma once

#include <cstdint>
#include <vector>

#include "serving/histories.h"
#include "serving/model_snapshot.h"
#include "serving/query_encoder.h"
#include "serving/recommender.h"
#include "trainer/eval/model_scorer.h"

namespace hybrec::serving {

struct RequestVectors {
  std::vector<float> states;             // [n, d] u'
  std::vector<float> users;              // [n, D] [u', q]
  std::vector<int64_t> exclude_offsets;  // [n + 1] CSR into exclude_items
  std::vector<int64_t> exclude_items;
  std::vector<bool> new_user;  // [n]
};

// The requests must be valid for s (Recommender::recommend checks them);
// queries may be null when no request has query text. user_rows may be
// empty for a model without id embeddings.
RequestVectors request_vectors(const ModelSnapshot& s,
                               const std::vector<RecommendRequest>& requests,
                               const trainer::RowFetcher& user_rows, const Histories& histories,
                               const QueryEncoder* queries);

}  // namespace hybrec::serving

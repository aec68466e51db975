// A request's top k from a snapshot: exact scoring of the whole catalogue,
// or candidates from the snapshot's IVF index re-scored exactly.
//
// The index path (IndexKind::kFaissIvf): the scoring-space user x = [u', q]
// becomes the query y = x B, so the fused score of item j is y . x_j with
// x_j = scoring_items[j], and the index finds the items of largest y . x_j
// among its nprobe nearest lists. The best max(4k, 100) of them are
// re-scored exactly (y . x_j in double), the request's exclusions removed,
// and the top k kept. When exclusions leave fewer than k, the search is
// repeated for that request with twice the candidates, and once the lists
// scanned hold no more, with twice the lists, up to all of them: a request
// gets k items whenever the catalogue has k it does not exclude, as with
// exact scoring. What the index can miss is an item of the true top k that
// lies in a list it does not scan; build_candidate_index measures how often.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "serving/model_snapshot.h"

namespace hybrec::serving {

// "exact" or "faiss-ivf" (the `hybrec serve --index` values); Error otherwise.
IndexKind parse_index_kind(const std::string& name);
std::string index_kind_name(IndexKind kind);

// The lists of a catalogue's IVF index: about 4 sqrt(num_items), and at
// most one per 39 items (FAISS's least for useful centroids), at least 1.
int64_t default_nlist(int64_t num_items);

// Builds s.index over s.scoring_items, then measures recall@10 (k = 10, or
// the catalogue when smaller) of the index path against exact scoring on
// users [users.size(), D] (scoring-space vectors, no exclusions); fills
// s.nprobe and s.index_report and prints describe_index(s.index_report) on
// stderr.
void build_candidate_index(ModelSnapshot& s, const IndexOptions& options,
                           const std::vector<int64_t>& recall_users,
                           const std::vector<float>& users);

// One line for logs: the kind, nlist, nprobe, recall and build time.
std::string describe_index(const IndexReport& report, int64_t num_items);

// The top k of num_users scoring-space users [num_users, D] with the
// contract of kernels::all_items_topk (descending score, lower id first on
// ties, CSR exclusions or nullptr, item -1 / score -inf past the candidates
// left): exact scoring when s has no index, the index path otherwise.
void snapshot_topk(const ModelSnapshot& s, const float* users, int64_t num_users, int64_t k,
                   const int64_t* exclude_offsets, const int64_t* exclude_items, int64_t* top_items,
                   float* top_scores);

// Always the index path (s.index must be set) / always exact scoring.
void index_topk(const ModelSnapshot& s, const float* users, int64_t num_users, int64_t k,
                const int64_t* exclude_offsets, const int64_t* exclude_items, int64_t* top_items,
                float* top_scores);
void exact_topk(const ModelSnapshot& s, const float* users, int64_t num_users, int64_t k,
                const int64_t* exclude_offsets, const int64_t* exclude_items, int64_t* top_items,
                float* top_scores);

}  // namespace hybrec::serving

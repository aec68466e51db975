// One immutable version of everything a recommendation is scored with: the
// dense parameters of a checkpoint, the catalogue's text vectors, and the
// item matrix built from them and the item id rows. Requests hold a
// shared_ptr to the version they started with, so a rebuild never waits for
// them and they never see half of one (serving/recommender.h swaps versions).
//
// The fused score of DESIGN.md,
//   z' = (u'^T W v_j + lambda * text_scale * cos(q, t_j)) / sqrt(1 + lambda^2),
// is one inner product in an augmented space: with the text vectors unit
// length (the dataset schema's rule), cos(q, t_j) = q . t_j, so
//   z' = [u', q] B [v_j, t_j]^T,   B = blockdiag(W, lambda * text_scale * I) / sqrt(1 + lambda^2)
// and the kernels' all_items_topk ranks the whole catalogue with B as its
// bilinear form. Without a text score the space is v_j alone and B = W.
// With model.new_item_boost b the space gains one coordinate, 1 for the
// user and 1 for an item without a trained id row, and B gains b on its
// diagonal: the boost of evaluation, in the same inner product (so an IVF
// index sees it too).
//
// A snapshot may also own a candidate index over its item matrix
// (serving/candidates.h): built with the matrix, so a rebuild builds a new
// one and the swap of versions stays atomic.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "serving/ann/ivf_index.h"
#include "trainer/eval/model_scorer.h"
#include "trainer/model/hybrid_model.h"
#include "trainer/model/neighbor_rows.h"

namespace hybrec::serving {

// How a request's top k is found.
enum class IndexKind {
  kExact,     // the whole catalogue scored (kernels::all_items_topk): the default
  kFaissIvf,  // candidates from an IVF index (FAISS), re-scored exactly
};

struct IndexOptions {
  IndexKind kind = IndexKind::kExact;
  // Lists each query scans (kFaissIvf): more is slower and closer to exact;
  // clamped to nlist, and nprobe >= nlist sees every item.
  int64_t nprobe = 16;
  int64_t nlist = 0;  // 0: default_nlist(num_items) (serving/candidates.h)
};

// What building the index measured, printed on stderr and kept for /health.
struct IndexReport {
  std::string kind = "exact";  // "exact" or "faiss-ivf"
  int64_t nlist = 0, nprobe = 0;
  int64_t recall_k = 0;               // 0: nothing measured (exact scoring)
  std::vector<int64_t> recall_users;  // the users it was measured on
  // Of the exact top recall_k of those users (no exclusions), the share the
  // index path returns.
  double recall = 1.0;
  double build_s = 0;  // training and filling the index, and measuring it
};

struct ModelSnapshot {
  int64_t version = 0;  // 1, 2, ... per rebuild in this process
  std::chrono::system_clock::time_point built_at;
  std::string rows_from;  // where the item rows came from, for /health
  std::string step_dir;   // the checkpoint the dense parameters came from

  std::shared_ptr<const trainer::HybridModel> model;
  std::vector<float> params;  // [model->num_params()]

  // The catalogue's slots: slot j < base_items is item j of the dataset;
  // later slots are items that arrived on the stream (item_ids[j] their id).
  // Every per-item array below is indexed by slot.
  int64_t num_items = 0;  // slots
  int64_t base_items = 0;
  std::vector<int64_t> item_ids;                    // [num_items]
  std::unordered_map<int64_t, int64_t> new_slots;  // id -> slot, for slots >= base_items
  int64_t dim = 0;        // d
  int64_t text_dim = 0;   // T (0 without text)
  // D = d, + T with a text score, + 1 with a new-item boost (its
  // coordinate: 1 on the user side, 1 for an unseen slot on the item side).
  int64_t score_dim = 0;
  bool text_score = false;
  float new_item_boost = 0.0f;  // ModelConfig::new_item_boost
  std::vector<float> text_emb;       // [num_items, T], unit rows or zero
  std::vector<float> item_vecs;      // [num_items, d] v_j: the history encoder's inputs
  std::vector<float> scoring_items;  // [num_items, D] [v_j, t_j]
  std::vector<float> scoring_form;   // [D, D] B
  float cf_weight = 1.0f;            // 1 / sqrt(1 + lambda^2)
  float text_weight = 0.0f;          // lambda * text_scale / sqrt(1 + lambda^2)

  std::shared_ptr<const ann::IvfIndex> index;  // over scoring_items; null: exact scoring
  int64_t nprobe = 0;                          // the index's lists per query
  IndexReport index_report;

  bool has_text_score() const { return text_score; }
  bool boosts_new_items() const { return new_item_boost != 0.0f; }
  // The slot of an item id, or -1 when the catalogue has no such item.
  int64_t slot_of(int64_t id) const {
    if (id >= 0 && id < base_items) return id;
    const auto it = new_slots.find(id);
    return it == new_slots.end() ? -1 : it->second;
  }
};

struct SnapshotInputs {
  std::shared_ptr<const trainer::HybridModel> model;
  std::vector<float> params;
  std::vector<float> text_emb;   // [slots, T]; empty without text
  int64_t base_items = 0;        // the dataset's items: slots 0 .. base_items - 1
  std::vector<int64_t> new_ids;  // items that arrived since, one slot each after them
  trainer::RowFetcher item_rows;  // used when the model has id embeddings
  // model.unseen_item_neighbors' lists, kept from the last build (may be
  // null: searched afresh).
  trainer::TextNeighborCache* neighbor_cache = nullptr;
  std::string rows_from;
  std::string step_dir;
  int64_t version = 0;

  IndexOptions index;
  // With an index: the users its recall is measured on, and their
  // scoring-space vectors [u', q] ([recall_users.size(), D]) computed from
  // the snapshot being built.
  std::vector<int64_t> recall_users;
  std::function<std::vector<float>(const ModelSnapshot&, const std::vector<int64_t>&)>
      user_vectors;
};

// Builds the item matrix: every item's row pulled (in chunks) and its v_j
// computed with the model's own item tower; then the candidate index the
// options ask for, with its recall measured.
std::shared_ptr<const ModelSnapshot> build_model_snapshot(SnapshotInputs inputs);

}  // namespace hybrec::serving

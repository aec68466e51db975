// Id rows for items that training never saw, borrowed from their text
// neighbours: an untrained item's e_j becomes the mean of the trained rows of
// the K items whose text vectors are nearest to its own (cosine of t_j).
//
// Why: a model trained on old items keeps their collaborative signal, their
// popularity included, in e_j. A new item scored from text alone sits below
// every popular old item (the hybrid's cold_all HR@10 is a tenth of
// text-only's), and a uniform boost lifts every new item for every user,
// buying the shelf with warm accuracy. A neighbour row instead gives a new
// item the taste and popularity of the old items it reads like, so it rises
// for the users who liked those items. Applied when items are scored
// (evaluation, serving, streams, prepare_item_rows_for_ranking) and, for the
// items ID dropout drops, in training (trainer/loop/dropped_item_rows.h).
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "trainer/model/model_config.h"

namespace hybrec::trainer {

// Whether the model gives items without an id row their text neighbours'
// rows: unseen_item_neighbors > 0 with id rows and a text side (use_text or
// use_text_score). The ablations never do: text-only has no id rows, and
// CF-only must not learn from text through the back door.
inline bool uses_text_neighbors(const ModelConfig& c) {
  return c.unseen_item_neighbors > 0 && has_id_and_text(c);
}

// For each item in queries, the k nearest items by cosine of text [n,
// text_dim] among those flagged in candidate (host arrays): [queries, k]
// item ids, nearest first, the lower id first on a tie. Candidates with a
// zero text vector are skipped; a query with a zero text vector, and the
// slots beyond the number of candidates, hold -1. k >= 1.
std::vector<int64_t> nearest_by_text(const float* text, int64_t text_dim, int64_t n,
                                     const std::vector<int64_t>& queries,
                                     const std::vector<uint8_t>& candidate, int64_t k);

// out [dim] = the mean of rows[ids[m]] over the count ids that are not -1
// (zero when all are -1).
void mean_of_rows(const float* rows, int64_t dim, const int64_t* ids, int64_t count, float* out);

// rows [n, dim] (host): each row flagged in unseen takes the mean of the
// rows of its k nearest unflagged items by cosine of text [n, text_dim].
// A flagged row stays zero when no item is trained, or its text vector is
// zero (no text to compare). Items with a zero text vector are never
// neighbours. k >= 1.
void fill_untrained_rows_from_text_neighbors(const float* text, int64_t text_dim, int64_t n,
                                             int64_t dim, const std::vector<uint8_t>& unseen,
                                             int64_t k, float* rows);

// The neighbour lists of the last fill, kept for the next one. Serving
// rebuilds its catalogue every few seconds, and the search is one all-items
// top-k of the untrained items' text against the trained items' (at 100k
// items with a fifth untrained and 384-dim text, seconds of CPU). The rows
// change between builds but the untrained set and the text rarely do, so a
// fill reuses the lists when n, text_dim, k, the untrained flags and a hash
// of the text are all as last time, and averages the current rows.
// Thread-safe.
class TextNeighborCache {
 public:
  // As fill_untrained_rows_from_text_neighbors.
  void fill(const float* text, int64_t text_dim, int64_t n, int64_t dim,
            const std::vector<uint8_t>& unseen, int64_t k, float* rows);
  // How many fills ran the search (the rest reused its lists).
  int64_t searches() const;

 private:
  mutable std::mutex mutex_;
  int64_t searches_ = 0;
  int64_t n_ = -1, text_dim_ = -1, k_ = -1;
  uint64_t text_hash_ = 0;
  std::vector<uint8_t> unseen_;
  std::vector<int64_t> untrained_, lists_;
};

// The catalogue's item rows [n, dim] (host, pulled in item order; text
// [n, config.text_dim] in the same order, or nullptr) made ready for
// ranking: returns untrained_rows() of them (id_tables.h), the flags taken
// BEFORE any row is filled, and with config.unseen_item_neighbors > 0 fills
// the flagged rows from their text neighbours, if the model has both id rows
// and a text side (use_text or use_text_score: the CF-only ablation stays
// free of text). Evaluation, serving and the stream's prequential scoring
// all call this, so they rank alike. With a cache, the neighbour search is
// skipped when its inputs have not changed.
std::vector<uint8_t> prepare_item_rows_for_ranking(const ModelConfig& config, const float* text,
                                                   int64_t n, float* rows,
                                                   TextNeighborCache* cache = nullptr);

}  // namespace hybrec::trainer

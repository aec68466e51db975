// Beyond-accuracy metrics of the top-K lists an evaluation pass recommends:
// what a model shows, not only whether the held-out item is among it. For
// each case the list is the top K of the case's candidates (the items its
// rank counts: ranking.h), by score, ties broken by the lower id, NaN scores
// first; it is shorter than K when fewer candidates are left. Over the
// lists of one (split, subset):
//
//   coverage@K   distinct items in any list / number of candidate items of the
//                subset (every item for warm and cold_all, the cold items for
//                cold).
//   gini@K       the Gini coefficient of exposure (the number of lists an item
//                is in) over the subset's candidate items, ascending x_1..x_n:
//                sum_i (2i - n - 1) x_i / (n sum_i x_i). 0 = equal exposure;
//                (n - 1)/n, about 1, when every slot shows the same item.
//   pop_pct@K    mean popularity percentile of the recommended items. Items
//                are ranked by their number of training (kTrain) events; an
//                item's percentile is (#items with fewer events + (#other items
//                with as many) / 2) / (num_items - 1), in [0, 1], 1 = the most
//                popular; tied items share the mean of their percentiles.
//   new_share@K  share of the list slots that show cold (new) items.
//   ild@K        intra-list diversity: mean over lists of two or more items of
//                the mean over their pairs of 1 - cos(a, b) between the items'
//                text vectors (/items/text_emb; an all-zero vector has cos 0
//                to every other). -1 when the dataset has no text vectors
//                (or no list has two items).
//   novelty@K    mean self-information -log2 p_j of the recommended items,
//                with the add-one smoothed p_j = (c_j + 1) / (C + num_items),
//                c_j the item's training events and C all training events, so
//                an item never trained on has a finite novelty.
// The "mean" of pop_pct, new_share and novelty is over list slots.
//
// A rank sees the lists of its own users only: rank_cases adds each list
// to an exposure vector and the per-list sums to MetricSums; the caller
// all-reduces both before finish_beyond_accuracy.
#pragma once

#include <cmath>
#include <cstdint>
#include <queue>
#include <vector>

#include "trainer/data/dataset.h"

namespace hybrec::trainer {

// Per-item facts the list metrics read, from a dataset's training events.
struct ItemProfile {
  std::vector<uint8_t> cold;      // [num_items] 1 = cold (data.item_cold)
  std::vector<double> pop_pct;    // [num_items] popularity percentile
  std::vector<double> self_info;  // [num_items] -log2 p_j
  int64_t text_dim = 0;           // 0: no text vectors (ild is -1)
  std::vector<float> unit_text;   // [num_items, text_dim], rows scaled to norm 1 (0 stays 0)
  int64_t num_items() const { return static_cast<int64_t>(cold.size()); }
};

// From explicit training counts (tests) or from a dataset's kTrain events.
ItemProfile make_item_profile(const std::vector<int64_t>& train_count,
                              const std::vector<uint8_t>& cold, int64_t text_dim,
                              const std::vector<float>& text_emb);
ItemProfile make_item_profile(const Dataset& data);

// The popularity percentiles of items with these counts (see above).
std::vector<double> popularity_percentiles(const std::vector<int64_t>& count);

// The k best (score, id) pairs offered, ordered by score descending then id
// ascending; a NaN score is better than any number.
class TopK {
 public:
  explicit TopK(int64_t k) : k_(k) {}
  void offer(float score, int64_t id) {
    if (k_ <= 0) return;
    if (static_cast<int64_t>(heap_.size()) < k_) {
      heap_.push({score, id});
    } else if (better(Entry{score, id}, heap_.top())) {
      heap_.pop();
      heap_.push({score, id});
    }
  }
  // The ids, best first (the heap is emptied).
  std::vector<int64_t> take();

 private:
  struct Entry {
    float score;
    int64_t id;
  };
  static bool better(const Entry& a, const Entry& b) {
    const bool a_nan = std::isnan(a.score), b_nan = std::isnan(b.score);
    if (a_nan || b_nan) return a_nan && (!b_nan || a.id < b.id);
    return a.score > b.score || (a.score == b.score && a.id < b.id);
  }
  struct Worse {  // heap top = the worst kept entry
    bool operator()(const Entry& a, const Entry& b) const { return better(a, b); }
  };
  int64_t k_;
  std::priority_queue<Entry, std::vector<Entry>, Worse> heap_;
};

// Sums over the slots and lists of one rank, reduced over ranks with the
// accuracy sums (MetricSums).
struct ListSums {
  double slots = 0;      // list entries
  double pop_pct = 0;    // sum over slots of the popularity percentile
  double new_items = 0;  // slots showing a cold item
  double novelty = 0;    // sum over slots of -log2 p_j
  double ild = 0;        // sum over lists (of >= 2 items) of their mean pair distance
  double ild_lists = 0;  // lists of >= 2 items (0 without text vectors)
};

// The sums of one list.
ListSums list_sums(const std::vector<int64_t>& list, const ItemProfile& items);
void add(ListSums& into, const ListSums& list);

// The Gini coefficient of x (see above); 0 when x is empty or sums to 0.
double gini(std::vector<double> x);

struct BeyondAccuracy {
  double coverage = 0, gini = 0, pop_pct = 0, new_share = 0, ild = -1, novelty = 0;
};

// The metrics of one subset from the reduced sums and exposure ([num_items]
// list counts over all ranks). cold_only: the candidates are the cold items.
BeyondAccuracy finish_beyond_accuracy(const ListSums& reduced, const std::vector<double>& exposure,
                                      const ItemProfile& items, bool cold_only);

}  // namespace hybrec::trainer

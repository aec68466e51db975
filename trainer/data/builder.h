// Pieces the importers and the generator share: dense id maps, the choice
// of cold items, and the last steps that turn raw events into a complete
// Dataset (cold items, sort, splits, text embeddings).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/data/text_hash.h"

namespace hybrec::trainer {

// Options every importer takes.
struct ImportOptions {
  // Events with rating >= threshold become positives; 0 keeps every event.
  double rating_threshold = 0.0;
  // Fraction of the items with at least one event held out as cold.
  double cold_fraction = 0.2;
  uint64_t seed = 1;
  // Columns of /items/text_emb written by the hashing encoder; 0 = none.
  int64_t text_dim = kDefaultTextDim;
};

// ", none rated >= R" for a message about a file without kept events, or
// "" when threshold is 0 (every event kept).
std::string below_threshold(double threshold);

// Maps source ids (any strings) to dense ids 0, 1, ... in first-seen order.
class IdMap {
 public:
  int64_t get_or_add(const std::string& key);
  // The dense id of `key`, or -1.
  int64_t find(const std::string& key) const;
  int64_t size() const { return static_cast<int64_t>(keys_.size()); }
  const std::vector<std::string>& keys() const { return keys_; }

 private:
  std::unordered_map<std::string, int64_t> ids_;
  std::vector<std::string> keys_;
};

// Picks round(fraction * E) cold items uniformly (seeded) among the E items
// that have at least one interaction; returns [num_items] flags.
std::vector<uint8_t> choose_cold_items(const Dataset& dataset, double fraction, uint64_t seed);

// Completes a dataset whose interactions, num_users, num_items and
// item_text are set: chooses the cold items, sorts, assigns the splits and
// encodes item text with the hashing encoder (text_dim columns, or none).
void complete_dataset(Dataset& dataset, double cold_fraction, uint64_t seed, int64_t text_dim);

// The importers' last step: sets the user and item counts, the item text
// (texts: (dense item id, text) pairs; items without one get ""), then
// complete_dataset with the options' cold fraction, seed and text dim.
void finish_import(Dataset& dataset, int64_t num_users, int64_t num_items,
                   std::vector<std::pair<int64_t, std::string>> texts,
                   const ImportOptions& options);

// A multi-line summary for `hybrec data info`:
// users, items, events per split, cold items, text dim and encoder.
std::string describe(const Dataset& dataset);

}  // namespace hybrec::trainer

// What the online trainer knows beyond its dataset, kept identical on every
// trainer rank (each applies every event of every micro-batch, in order):
// each user's history grown by its streamed events, the items that arrived
// after the dataset (their text rows, their place among the sampled
// negatives) and the text table the model reads, the dataset's rows
// followed by the new items'.
//
// An event is a new user or item when its id is at or above the dataset's
// counts; its id rows are created by the parameter server on first pull.
// A new item's text vector comes from `encode` when its first event carries
// text (later events' text is ignored) and is a zero row otherwise, as for
// the dataset's items without text.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/loop/batch_builder.h"
#include "trainer/loop/examples.h"
#include "trainer/stream/event.h"

namespace hybrec::trainer {

// A text's vector [text_dim] in the dataset's text space.
using ItemTextEncoder = std::function<std::vector<float>(const std::string& text)>;

// The negative key of a streamed event: NegativeSampler::sample's epoch
// (no offline epoch reaches it) with the event's position as the example,
// so a resumed run draws the same negatives for the same event.
inline constexpr int64_t kStreamEpoch = int64_t{1} << 40;

// How far past the dataset's counts a new id may lie.
inline constexpr int64_t kMaxNewIds = int64_t{1} << 24;

class StreamState {
 public:
  // `encode` may be empty when the dataset has no text vectors.
  StreamState(const TrainingSet& set, ItemTextEncoder encode);

  // A micro-batch's examples for rank `rank` of `ranks` (events i with
  // i % ranks == rank), each built from the state before its event; then
  // every event is applied in order. specs' history pointers point into
  // *histories (valid until the next call). With `seen` non-null it gets,
  // per example, the user's items before the event (what prequential
  // scoring excludes). Returns the new items, in order of arrival.
  std::vector<int64_t> take(const std::vector<StreamEvent>& events, int rank, int ranks,
                            int64_t history_len, NegativeSampler* sampler,
                            std::vector<ExampleSpec>* specs, std::vector<int64_t>* histories,
                            std::vector<std::vector<int64_t>>* seen = nullptr);

  // [text_rows(), text_dim] by global item id; null without text vectors.
  const float* text_emb() const { return text_.empty() ? nullptr : text_.data(); }
  int64_t text_rows() const { return text_dim_ > 0 ? text_rows_ : 0; }
  // The text vector of item (a zero row for an item without text).
  const float* text_row(int64_t item) const;
  // New items so far (ids at or above the dataset's count), in order of arrival.
  const std::vector<int64_t>& new_items() const { return new_items_; }
  const std::string& new_item_text(int64_t item) const { return new_text_.at(item); }
  // Dataset items plus new items.
  int64_t catalogue_items() const;
  // One past the largest item id known (the rows scoring ranks over).
  int64_t item_rows() const { return item_rows_; }

 private:
  std::vector<int64_t>& history(int64_t user);
  void observe(const StreamEvent& e, NegativeSampler* sampler, std::vector<int64_t>* added);

  const TrainingSet& set_;
  ItemTextEncoder encode_;
  int64_t text_dim_;
  int64_t text_rows_, item_rows_;
  std::vector<float> text_;  // [text_rows_, text_dim_]
  // The users with streamed events: their training items, then the streamed ones.
  std::unordered_map<int64_t, std::vector<int64_t>> histories_;
  std::vector<int64_t> new_items_;
  std::unordered_map<int64_t, std::string> new_text_;
};

}  // namespace hybrec::trainer

// The training view of a dataset: which events are training examples, each
// user's training items in time order (the history an example sees), and the
// negative sampler over training items.
//
// Cold items never appear here: an item with no kTrain event is neither a
// history item nor a negative.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/data/rng.h"  // splitmix64: the hash behind every seeded draw here
#include "trainer/loop/config.h"

namespace hybrec::trainer {

struct TrainingSet {
  const Dataset* data = nullptr;
  std::vector<int64_t> examples;      // interaction indices of the kTrain events
  std::vector<int64_t> example_user;  // [examples] user of each example
  std::vector<int64_t> example_pos;   // [examples] index of the event in its user's train run
  std::vector<int64_t> user_begin;    // [num_users + 1] CSR into train_items
  std::vector<int64_t> train_items;   // items of the kTrain events, by user, chronological
  std::vector<int64_t> item_count;    // [num_items] number of kTrain events
};

// The kTrain events with timestamp < before (all by default). Throws
// hybrec::Error when none is left ("empty split").
TrainingSet make_training_set(const Dataset& data,
                              int64_t before = std::numeric_limits<int64_t>::max());

// Negatives from the training items, uniformly or by popularity
// (count^alpha). Draws are a pure function of (seed, epoch, example, slot),
// so a resumed run or another rank count draws the same negatives.
class NegativeSampler {
 public:
  NegativeSampler(const TrainingSet& set, Sampler kind, double alpha, uint64_t seed);

  // Fills items[0..count) with negatives for one example, none equal to
  // `target` (redrawn), and log_q[0..count) with log(count * q(item)), the
  // logQ correction of the sampled softmax.
  void sample(int64_t epoch, int64_t example, int64_t target, int64_t count, int64_t* items,
              float* log_q) const;

  int64_t num_candidates() const { return static_cast<int64_t>(items_.size()); }

  // Online training: a new item joins the candidates with the weight of
  // one event (uniform: like any other). Every later draw sees it; draws
  // stay a pure function of the key and the candidates added before.
  void add_item(int64_t item);

 private:
  int64_t draw(uint64_t random) const;

  Sampler kind_;
  uint64_t seed_;
  std::vector<int64_t> items_;      // the candidates: training items, then added ones
  std::vector<double> cumulative_;  // cumulative weights over items_
  std::vector<double> weight_;      // [item id] its weight; 0 for non-candidates
};

// The order of one epoch's examples: a seeded shuffle of [0, n).
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch);

// Steps per epoch when `ranks` ranks each take batches of `batch_size`
// examples, rank-strided; the tail that does not fill a step on every rank is
// dropped, so all ranks take the same number of steps.
int64_t steps_per_epoch(int64_t examples, int64_t ranks, int64_t batch_size);

}  // namespace hybrec::trainer

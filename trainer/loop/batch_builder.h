// Turns a list of training examples into a model Batch: the target and its
// sampled negatives as candidates, the user's last L training items as
// history, and every user and item key deduplicated so each row is pulled
// from the parameter server once per batch.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/loop/examples.h"
#include "trainer/model/batch.h"

namespace hybrec::trainer {

// One example: a user, its target item, the user's items before it
// (chronological; the builder keeps the last history_len), and the key its
// negatives are drawn with (NegativeSampler::sample's epoch and example).
struct ExampleSpec {
  int64_t user = 0;
  int64_t target = 0;
  int64_t epoch = 0;
  int64_t key = 0;
  const int64_t* history = nullptr;
  int64_t history_size = 0;
};

class BatchBuilder {
 public:
  BatchBuilder(const TrainingSet& set, const NegativeSampler& sampler, int64_t negatives,
               int64_t history_len);

  // Builds the batch of examples[0..n) (indices into set.examples) of `epoch`.
  void build(int64_t epoch, const int64_t* examples, int64_t n, Batch* batch);
  // Builds the batch of examples[0..n): the online trainer's, whose users
  // and items may lie past the dataset's counts (new ones).
  void build(const ExampleSpec* examples, int64_t n, Batch* batch);

 private:
  int32_t user_slot(int64_t user, Batch* batch);
  int32_t item_slot(int64_t item, Batch* batch);

  const TrainingSet& set_;
  const NegativeSampler& sampler_;
  int64_t negatives_;
  int64_t history_len_;
  // Key -> slot in the batch being built, -1 when absent; reset after each
  // build by walking the batch's keys, so building costs O(batch), not O(table).
  std::vector<int32_t> user_slots_;
  std::vector<int32_t> item_slots_;
  std::vector<ExampleSpec> specs_;       // the offline build's examples
  std::vector<int64_t> negative_items_;  // one example's negatives
  std::vector<float> negative_log_q_;
};

}  // namespace hybrec::trainer

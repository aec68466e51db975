// Baseline scorers, evaluated through the same ranking and beyond-accuracy
// code as a trained model (`hybrec eval --baseline NAME`).
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/eval/ranking.h"

namespace hybrec::trainer {

// Scores items by their number of training events (the popularity baseline).
class PopularityScorer : public Scorer {
 public:
  explicit PopularityScorer(const std::vector<int64_t>& item_count);
  void score(const EvalCase* cases, int64_t n, float* scores) override;

 private:
  std::vector<float> counts_;
};

// Uniform scores in [0, 1), a pure function of (seed, user, item): the same
// for a user whichever rank evaluates it (the random floor).
class RandomScorer : public Scorer {
 public:
  RandomScorer(int64_t num_items, uint64_t seed) : num_items_(num_items), seed_(seed) {}
  void score(const EvalCase* cases, int64_t n, float* scores) override;

 private:
  int64_t num_items_;
  uint64_t seed_;
};

}  // namespace hybrec::trainer

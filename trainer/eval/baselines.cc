#include "trainer/eval/baselines.h"

#include <algorithm>

#include "hybrec/kernels/splitmix.h"

namespace hybrec::trainer {

PopularityScorer::PopularityScorer(const std::vector<int64_t>& item_count)
    : counts_(item_count.begin(), item_count.end()) {}

void PopularityScorer::score(const EvalCase*, int64_t n, float* scores) {
  for (int64_t i = 0; i < n; ++i) {
    std::copy(counts_.begin(), counts_.end(), scores + i * static_cast<int64_t>(counts_.size()));
  }
}

void RandomScorer::score(const EvalCase* cases, int64_t n, float* scores) {
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t user = splitmix64(seed_ ^ splitmix64(static_cast<uint64_t>(cases[i].user) + 1));
    float* row = scores + i * num_items_;
    for (int64_t j = 0; j < num_items_; ++j) {
      // The top 24 bits: exactly representable floats in [0, 1).
      row[j] = static_cast<float>(splitmix64(user + static_cast<uint64_t>(j)) >> 40) * 0x1p-24f;
    }
  }
}

}  // namespace hybrec::trainer

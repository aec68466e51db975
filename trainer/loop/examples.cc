#include "trainer/loop/examples.h"

#include <algorithm>
#include <cmath>

#include "hybrec/kernels/error.h"

namespace hybrec::trainer {

TrainingSet make_training_set(const Dataset& data, int64_t before) {
  TrainingSet set;
  set.data = &data;
  set.user_begin.assign(static_cast<std::size_t>(data.num_users) + 1, 0);
  set.item_count.assign(static_cast<std::size_t>(data.num_items), 0);
  // Events are sorted by user then time, so one pass builds the CSR in order.
  for (int64_t i = 0; i < data.num_interactions(); ++i) {
    if (data.split[i] != Split::kTrain || data.timestamp[i] >= before) continue;
    const int64_t u = data.user[i];
    set.examples.push_back(i);
    set.example_user.push_back(u);
    set.example_pos.push_back(set.user_begin[u + 1]++);
    set.train_items.push_back(data.item[i]);
    ++set.item_count[data.item[i]];
  }
  for (int64_t u = 0; u < data.num_users; ++u) set.user_begin[u + 1] += set.user_begin[u];
  HYBREC_CHECK(!set.examples.empty(), "dataset '", data.name,
               "' has an empty training split (no interaction with split = train)");
  return set;
}

NegativeSampler::NegativeSampler(const TrainingSet& set, Sampler kind, double alpha, uint64_t seed)
    : kind_(kind), seed_(seed) {
  const int64_t num_items = static_cast<int64_t>(set.item_count.size());
  weight_.assign(static_cast<std::size_t>(num_items), 0.0);
  double total = 0.0;
  for (int64_t j = 0; j < num_items; ++j) {
    if (set.item_count[j] == 0) continue;
    items_.push_back(j);
    const double w = kind == Sampler::kPopularity
                         ? std::pow(static_cast<double>(set.item_count[j]), alpha)
                         : 1.0;
    total += w;
    cumulative_.push_back(total);
  }
  HYBREC_CHECK(items_.size() >= 2, "negative sampling needs at least 2 training items, found ",
               items_.size());
  // As the cumulative sums give it back (what draw() samples by).
  for (std::size_t i = 0; i < items_.size(); ++i) {
    weight_[items_[i]] = cumulative_[i] - (i == 0 ? 0.0 : cumulative_[i - 1]);
  }
}

void NegativeSampler::add_item(int64_t item) {
  HYBREC_CHECK(item >= 0, "negative sampler: item id ", item, " is negative");
  if (static_cast<std::size_t>(item) >= weight_.size()) {
    weight_.resize(static_cast<std::size_t>(item) + 1, 0.0);
  }
  if (weight_[item] > 0.0) return;
  items_.push_back(item);
  cumulative_.push_back(cumulative_.back() + 1.0);
  weight_[item] = cumulative_.back() - cumulative_[cumulative_.size() - 2];
}

int64_t NegativeSampler::draw(uint64_t random) const {
  const double u = static_cast<double>(random >> 11) * 0x1.0p-53;  // [0, 1)
  if (kind_ == Sampler::kUniform) {
    const auto n = static_cast<int64_t>(items_.size());
    return items_[std::min<int64_t>(static_cast<int64_t>(u * n), n - 1)];
  }
  const double x = u * cumulative_.back();
  auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), x);
  if (it == cumulative_.end()) --it;
  return items_[static_cast<std::size_t>(it - cumulative_.begin())];
}

void NegativeSampler::sample(int64_t epoch, int64_t example, int64_t target, int64_t count,
                             int64_t* items, float* log_q) const {
  uint64_t state = splitmix64(seed_ ^ splitmix64(static_cast<uint64_t>(epoch) * 0x100000001b3ULL +
                                                 static_cast<uint64_t>(example)));
  const float log_count = std::log(static_cast<float>(count));
  for (int64_t c = 0; c < count; ++c) {
    int64_t item = target;
    // A negative equal to the target is redrawn; with >= 2 candidates this
    // ends, and 64 tries make a repeat vanishingly unlikely.
    for (int attempt = 0; attempt < 64 && item == target; ++attempt)
      item = draw(state = splitmix64(state));
    items[c] = item;
    log_q[c] = log_count + static_cast<float>(std::log(weight_[item] / cumulative_.back()));
  }
}

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  uint64_t state = splitmix64(seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(epoch) + 1);
  for (int64_t i = n - 1; i > 0; --i) {
    state = splitmix64(state);
    const auto j = static_cast<int64_t>(state % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

int64_t steps_per_epoch(int64_t examples, int64_t ranks, int64_t batch_size) {
  return examples / (ranks * batch_size);
}

}  // namespace hybrec::trainer

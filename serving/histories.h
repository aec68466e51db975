// What each user has done, as serving knows it: every event of the dataset
// (all splits, in time order) and every event that arrives on the live
// stream after it. A user's recent items are the history the model encodes;
// all of them are what exclude_seen removes. Safe for concurrent readers and
// one writer (the stream feed).
#pragma once

#include <cstdint>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "trainer/data/dataset.h"

namespace hybrec::serving {

class Histories {
 public:
  explicit Histories(const trainer::Dataset& data);

  // Appends one event (the stream's order is time order).
  void add(int64_t user, int64_t item);

  // Whether the user has any event; a user without one is a new user.
  bool known(int64_t user) const;
  // The user's items, oldest first (empty for a new user).
  std::vector<int64_t> items(int64_t user) const;
  // Events added since construction (for /metrics).
  int64_t streamed_events() const;

 private:
  mutable std::shared_mutex mutex_;
  std::vector<std::vector<int64_t>> dataset_users_;           // [num_users]
  std::unordered_map<int64_t, std::vector<int64_t>> extra_;   // streamed, per user
  int64_t streamed_ = 0;
};

}  // namespace hybrec::serving

#include "serving/histories.h"

#include <mutex>

namespace hybrec::serving {

Histories::Histories(const trainer::Dataset& data)
    : dataset_users_(static_cast<std::size_t>(data.num_users)) {
  // Interactions are sorted by user, then time (dataset.h).
  for (int64_t u = 0; u < data.num_users; ++u) {
    const int64_t begin = data.user_offsets[u], end = data.user_offsets[u + 1];
    dataset_users_[u].assign(data.item.begin() + begin, data.item.begin() + end);
  }
}

void Histories::add(int64_t user, int64_t item) {
  std::unique_lock lock(mutex_);
  extra_[user].push_back(item);
  ++streamed_;
}

bool Histories::known(int64_t user) const {
  std::shared_lock lock(mutex_);
  if (user >= 0 && user < static_cast<int64_t>(dataset_users_.size()) &&
      !dataset_users_[user].empty()) {
    return true;
  }
  return extra_.count(user) != 0;
}

std::vector<int64_t> Histories::items(int64_t user) const {
  std::shared_lock lock(mutex_);
  std::vector<int64_t> out;
  if (user >= 0 && user < static_cast<int64_t>(dataset_users_.size())) out = dataset_users_[user];
  if (auto it = extra_.find(user); it != extra_.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
  }
  return out;
}

int64_t Histories::streamed_events() const {
  std::shared_lock lock(mutex_);
  return streamed_;
}

}  // namespace hybrec::serving

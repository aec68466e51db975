#include "serving/new_items.h"

#include "hybrec/kernels/error.h"

namespace hybrec::serving {

bool NewItems::add(int64_t id, const std::string& text, const std::vector<float>& emb) {
  HYBREC_CHECK(id >= base_items_, "NewItems: item ", id, " is a dataset item");
  HYBREC_CHECK(static_cast<int64_t>(emb.size()) == text_dim_, "NewItems: ", emb.size(),
               " text floats, want ", text_dim_);
  std::lock_guard<std::mutex> lock(mutex_);
  if (!texts_.emplace(id, text).second) return false;
  ids_.push_back(id);
  text_emb_.insert(text_emb_.end(), emb.begin(), emb.end());
  return true;
}

NewItems::Copy NewItems::copy() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return Copy{ids_, text_emb_};
}

int64_t NewItems::count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(ids_.size());
}

std::string NewItems::text(int64_t id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = texts_.find(id);
  return it == texts_.end() ? std::string() : it->second;
}

}  // namespace hybrec::serving

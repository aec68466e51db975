// Items that arrived on the live stream after the dataset was made: their
// id, text (for display) and text vector, encoded on arrival with the
// catalogue's own encoder so a new item can be recommended before anyone
// clicks it. The next item-matrix rebuild gives each one a slot. Safe for
// concurrent readers and one writer (the stream feed).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace hybrec::serving {

class NewItems {
 public:
  NewItems(int64_t base_items, int64_t text_dim) : base_items_(base_items), text_dim_(text_dim) {}

  int64_t base_items() const { return base_items_; }
  int64_t text_dim() const { return text_dim_; }

  // Records item `id` (>= base_items) the first time it is seen; emb has
  // text_dim floats (zero without text). Returns whether it was new.
  bool add(int64_t id, const std::string& text, const std::vector<float>& emb);

  struct Copy {
    std::vector<int64_t> ids;   // in arrival order
    std::vector<float> text_emb;  // [ids.size(), text_dim]
  };
  Copy copy() const;
  int64_t count() const;
  // The item's text, or "" when it is not a new item.
  std::string text(int64_t id) const;

 private:
  const int64_t base_items_, text_dim_;
  mutable std::mutex mutex_;
  std::vector<int64_t> ids_;
  std::vector<float> text_emb_;
  std::unordered_map<int64_t, std::string> texts_;
};

}  // namespace hybrec::serving

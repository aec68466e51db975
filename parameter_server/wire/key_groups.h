// Deduplication of one request's keys: each distinct key once, in order of
// first appearance, and a chain through the positions that repeat it. The
// client pulls each distinct key once and copies its row to every position
// of the chain; it sums the gradients along the chain before pushing.
#pragma once

#include <cstdint>
#include <vector>

namespace hybrec::ps {

struct KeyGroups {
  std::vector<int64_t> first;  // [unique] position of each distinct key's first occurrence
  std::vector<int64_t> next;   // [n] next position holding the same key, or -1
  bool has_duplicates = false;
};

KeyGroups group_keys(const int64_t* keys, int64_t n);

}  // namespace hybrec::ps

#include "parameter_server/key_groups.h"

#include "parameter_server/row_init.h"

namespace hybrec::ps {

KeyGroups group_keys(const int64_t* keys, int64_t n) {
  KeyGroups groups;
  groups.next.assign(static_cast<size_t>(n), -1);
  groups.first.reserve(static_cast<size_t>(n));
  // Open addressing at load factor <= 1/2; a bucket holds a unique index + 1.
  uint64_t capacity = 16;
  while (capacity < 2 * static_cast<uint64_t>(n)) capacity *= 2;
  const uint64_t mask = capacity - 1;
  std::vector<int64_t> bucket_unique(capacity, 0);
  std::vector<int64_t> last;  // [unique] last position seen of each distinct key
  last.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (uint64_t b = mix64(static_cast<uint64_t>(keys[i])) & mask;; b = (b + 1) & mask) {
      const int64_t u = bucket_unique[b] - 1;
      if (u < 0) {
        bucket_unique[b] = static_cast<int64_t>(groups.first.size()) + 1;
        groups.first.push_back(i);
        last.push_back(i);
        break;
      }
      if (keys[groups.first[u]] == keys[i]) {
        groups.next[last[u]] = i;
        last[u] = i;
        groups.has_duplicates = true;
        break;
      }
    }
  }
  return groups;
}

}  // namespace hybrec::ps

#include "parameter_server/wire/key_groups.h"

#include "parameter_server/wire/row_init.h"

namespace hybrec::ps {

KeyGroups group_keys(const int64_t* keys, int64_t n) {
  KeyGroups groups;
  groups.next.assign(static_cast<size_t>(n), -1);
  groups.first.reserve(static_cast<size_t>(n));
  // Open addressing at load factor <= 1/2. A bucket holds the key itself, so
  // a probe is one memory access rather than a chase through first[].
  struct Bucket {
    int64_t key;
    int64_t last_plus_one;  // last position seen of this key, + 1; 0: empty
  };
  uint64_t capacity = 16;
  while (capacity < 2 * static_cast<uint64_t>(n)) capacity *= 2;
  const uint64_t mask = capacity - 1;
  std::vector<Bucket> buckets(capacity, Bucket{0, 0});
  for (int64_t i = 0; i < n; ++i) {
    for (uint64_t b = mix13(static_cast<uint64_t>(keys[i])) & mask;; b = (b + 1) & mask) {
      Bucket& bucket = buckets[b];
      if (bucket.last_plus_one == 0) {
        bucket = Bucket{keys[i], i + 1};
        groups.first.push_back(i);
        break;
      }
      if (bucket.key == keys[i]) {
        groups.next[bucket.last_plus_one - 1] = i;
        bucket.last_plus_one = i + 1;
        groups.has_duplicates = true;
        break;
      }
    }
  }
  return groups;
}

}  // namespace hybrec::ps

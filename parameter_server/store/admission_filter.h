// Monolith's frequency filter for new keys: a count-min sketch of how often
// each not-yet-stored key was pulled for training, so rare keys (most of a
// Zipf tail) are never given a row. Fixed memory (kDepth x kWidth one-byte
// saturating counters, 4 MiB) whatever the number of keys; a key's count can
// only be overestimated (hash collisions), so a key is admitted no later
// than its admit_after-th pull, sometimes earlier.
//
// Thread-safe: counters are relaxed atomics. Two requests counting the same
// key at once may lose an increment; that delays admission by one pull and
// never corrupts anything.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace hybrec::ps {

class AdmissionFilter {
 public:
  static constexpr int kDepth = 4;
  static constexpr int kWidthBits = 20;

  // Keys are admitted from their admit_after-th sighting on (>= 2).
  explicit AdmissionFilter(int admit_after);

  // Counts one sighting of key; true when it has now been seen admit_after
  // times (the caller stores it).
  bool count_and_admit(int64_t key);
  // Whether `sightings` more sightings would admit key, without counting
  // them.
  bool would_admit(int64_t key, int64_t sightings = 1) const;

  static constexpr int64_t bytes() { return int64_t{kDepth} << kWidthBits; }

 private:
  uint32_t estimate(int64_t key) const;
  const uint32_t admit_after_;
  std::unique_ptr<std::atomic<uint8_t>[]> counters_;
};

}  // namespace hybrec::ps

#include "parameter_server/store/admission_filter.h"

#include <algorithm>

#include "parameter_server/wire/row_init.h"

namespace hybrec::ps {

namespace {
constexpr uint64_t kWidthMask = (uint64_t{1} << AdmissionFilter::kWidthBits) - 1;

// Counter index of key in row r: independent hashes from one mix13 per row.
inline uint64_t cell(int64_t key, int r) {
  const uint64_t h = mix13(static_cast<uint64_t>(key) ^ (0x51afd7ed558ccd1dULL * (r + 1)));
  return (static_cast<uint64_t>(r) << AdmissionFilter::kWidthBits) | (h & kWidthMask);
}
}  // namespace

AdmissionFilter::AdmissionFilter(int admit_after)
    : admit_after_(static_cast<uint32_t>(admit_after)),
      counters_(new std::atomic<uint8_t>[static_cast<size_t>(bytes())]) {
  for (int64_t i = 0; i < bytes(); ++i) counters_[i].store(0, std::memory_order_relaxed);
}

uint32_t AdmissionFilter::estimate(int64_t key) const {
  uint32_t least = 255;
  for (int r = 0; r < kDepth; ++r) {
    least = std::min<uint32_t>(least, counters_[cell(key, r)].load(std::memory_order_relaxed));
  }
  return least;
}

bool AdmissionFilter::would_admit(int64_t key, int64_t sightings) const {
  return static_cast<int64_t>(estimate(key)) + sightings >= admit_after_;
}

bool AdmissionFilter::count_and_admit(int64_t key) {
  // Conservative update: only the counters at the minimum grow, which keeps
  // the overestimate of colliding keys down.
  const uint32_t least = estimate(key);
  if (least < 255) {
    for (int r = 0; r < kDepth; ++r) {
      std::atomic<uint8_t>& c = counters_[cell(key, r)];
      if (c.load(std::memory_order_relaxed) == least) {
        c.store(static_cast<uint8_t>(least + 1), std::memory_order_relaxed);
      }
    }
  }
  return least + 1 >= admit_after_;
}

}  // namespace hybrec::ps

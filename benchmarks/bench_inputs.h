// Seeded inputs shared by the CPU and GPU benchmarks, so both time the same
// data at the same shapes.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace hybrec::bench {

inline std::vector<float> random_normal(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> out(n);
  for (auto& v : out) v = dist(rng);
  return out;
}

// Per-user exclusion lists in CSR form: `per_user` random items each, as an
// evaluation excludes the items a user saw in training.
struct ExclusionLists {
  std::vector<int64_t> offsets;
  std::vector<int32_t> items;
};

inline ExclusionLists random_exclusions(int64_t users, int64_t items, int64_t per_user,
                                        std::uint64_t seed) {
  ExclusionLists lists;
  lists.offsets.assign(static_cast<std::size_t>(users + 1), 0);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(items - 1));
  for (int64_t u = 0; u < users; ++u) {
    for (int64_t e = 0; e < per_user; ++e) lists.items.push_back(pick(rng));
    lists.offsets[static_cast<std::size_t>(u + 1)] = static_cast<int64_t>(lists.items.size());
  }
  return lists;
}

}  // namespace hybrec::bench

// Initial values of a row the server has never seen.
//
// A counter-based generator: element j of key k in table t is a pure function
// of (seed, t's name, k, j), with no state carried between calls. So a row
// pulled for the first time gets the same values whichever shard owns it,
// after a restart, after a reshard, and whatever order keys arrive in.
#pragma once

#include <cstdint>
#include <string>

namespace hybrec::ps {

// Stafford's Mix13, the finaliser of SplitMix64 WITHOUT its increment (so
// not hybrec::splitmix64): a bijection on 64 bits with full avalanche. Row
// initial values, the row index and key routing are built on these exact
// bits, and so is every checkpoint: never change it.
inline uint64_t mix13(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// FNV-1a of the table name: tables of the same seed get unrelated rows.
inline uint64_t table_name_hash(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Writes dim values uniform in [-scale, scale) to out.
inline void init_row(uint64_t seed, uint64_t table_hash, int64_t key, float scale, int64_t dim,
                     float* out) {
  const uint64_t base =
      mix13(seed ^ mix13(table_hash ^ mix13(static_cast<uint64_t>(key) + 0x9e3779b97f4a7c15ULL)));
  for (int64_t j = 0; j < dim; ++j) {
    // 24 random bits give every float in [0, 1) a multiple of 2^-24 exactly.
    const uint64_t bits = mix13(base + static_cast<uint64_t>(j) * 0x9e3779b97f4a7c15ULL) >> 40;
    const float unit = static_cast<float>(bits) * (1.0f / 16777216.0f);
    out[j] = (2.0f * unit - 1.0f) * scale;
  }
}

}  // namespace hybrec::ps

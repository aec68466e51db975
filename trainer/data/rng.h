// A small seeded random generator (splitmix64) for the data layer.
//
// The standard distributions (std::uniform_int_distribution, std::shuffle,
// std::normal_distribution) are implementation-defined, so a dataset made
// with them could differ between standard libraries; everything here is
// specified bit for bit, so the same seed gives the same dataset anywhere.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "hybrec/kernels/splitmix.h"

namespace hybrec::trainer {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(splitmix64(seed ^ 0x243f6a8885a308d3ULL)) {}

  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t x = state_;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

  // Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  // Uniform in [0, n) for n >= 1 (the modulo bias is below 2^-40 for any n
  // this layer uses).
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }

  // Standard normal (Box-Muller; one draw per call, for simplicity).
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  template <typename T>
  void shuffle(std::vector<T>& values) {
    for (int64_t i = static_cast<int64_t>(values.size()) - 1; i > 0; --i) {
      std::swap(values[i], values[below(i + 1)]);
    }
  }

 private:
  uint64_t state_;
};

}  // namespace hybrec::trainer

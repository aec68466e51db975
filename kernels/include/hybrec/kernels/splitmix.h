// SplitMix64 (Steele, Lea, Flood 2014), the one 64-bit mixing function behind
// every seeded draw and hash outside the parameter server: the data layer's
// generator, the model's counter-based init and ID dropout, the trainer's
// example order and negative sampling, evaluation's sampling. Everything that
// depends on it (datasets, initial weights, batches) is reproducible bit for
// bit from its seed on any machine.
//
// (The parameter server keeps its own, different function, ps::mix13: its
// row initial values and key routing, and so every checkpoint, depend on it.)
#pragma once

#include <cstdint>

namespace hybrec {

// One SplitMix64 step from state x: the golden-ratio increment, then the
// finaliser. A bijection on 64 bits whose outputs for consecutive inputs
// pass BigCrush.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace hybrec

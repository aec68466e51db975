// Counter-based random numbers: each draw is a pure function of (seed,
// stream, index), so parameter init and ID dropout do not depend on the
// order of calls, the thread count or a standard library's distributions.
#pragma once

#include <cstdint>

#include "hybrec/kernels/splitmix.h"

namespace hybrec::trainer {

inline uint64_t counter_hash(uint64_t seed, uint64_t stream, uint64_t index) {
  return splitmix64(splitmix64(splitmix64(seed) ^ stream) ^ index);
}

// Uniform in [0, 1) with 24 random bits (exactly representable in float).
inline float counter_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return static_cast<float>(counter_hash(seed, stream, index) >> 40) * (1.0f / 16777216.0f);
}

}  // namespace hybrec::trainer

// Shared by the elementwise tests: a bit-for-bit comparison, and copies of
// the model's own loops that the CPU ops must reproduce exactly.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace hybrec::testing {

// Equal bits (so -0 differs from +0 and NaN equals itself), with the first
// difference in the message.
inline ::testing::AssertionResult same_bits(const std::vector<float>& a,
                                            const std::vector<float>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << a.size() << " vs " << b.size();
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      return ::testing::AssertionFailure() << "[" << i << "]: " << a[i] << " vs " << b[i];
    }
  }
  return ::testing::AssertionSuccess();
}

namespace elementwise_ref {

// The model's own loops (trainer/model/text_score.cc), each alone in a
// function as it is there. GCC's default -ffp-contract=fast lets it fuse
// a * b + c into an FMA where it chooses to, so "the plain loop" is the loop
// as compiled; in a loop of its own, as in the model, the choice is the op's.
inline __attribute__((noinline)) void model_inverse_norms(int64_t n, int64_t text_dim,
                                                          const float* rows, float* inv) {
  for (int64_t i = 0; i < n; ++i) {
    const float* t = rows + i * text_dim;
    float sq = 0.0f;
    for (int64_t k = 0; k < text_dim; ++k) sq += t[k] * t[k];
    inv[i] = sq > 0.0f ? 1.0f / std::sqrt(sq) : 0.0f;
  }
}

inline __attribute__((noinline)) float model_dot(const float* qb, const float* t,
                                                 int64_t text_dim) {
  float dot = 0.0f;
  for (int64_t k = 0; k < text_dim; ++k) dot += qb[k] * t[k];
  return dot;
}

}  // namespace elementwise_ref
}  // namespace hybrec::testing

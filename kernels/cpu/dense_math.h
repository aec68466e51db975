// Branch-free float exp, erf and log1p for the CPU dense loops.
//
// glibc declares its vector math (libmvec) only under -ffast-math, so a loop
// calling std::exp or std::erf runs one libm call per element: GELU over
// 52M values took 18x a memcpy of the same bytes. These are plain
// arithmetic, bitwise selects and bit casts, which GCC vectorises inside
// `omp simd` loops. Each is accurate to float rounding for the ops here
// (errors below; tests compare against double references).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace hybrec::kernels::cpu::math {

// cond ? a : b without a branch. GCC keeps `?:` on floats (and std::min/max)
// as control flow under the default -ftrapping-math, which stops
// vectorisation; a bitwise blend of the two values does not.
inline float select(bool cond, float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, sizeof ia);
  std::memcpy(&ib, &b, sizeof ib);
  const int32_t mask = -static_cast<int32_t>(cond);
  const int32_t bits = (ia & mask) | (ib & ~mask);
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

inline float max(float a, float b) { return select(a > b, a, b); }

// exp(x), relative error < 1e-7 for x in [-87.3, 88]; 0 below -87.3 (where
// the float result would be subnormal), so exp(-inf) == 0 as it should.
// Cephes' expf: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so n ln2
// is exact), a degree-6 polynomial for e^r, and 2^n built in the exponent
// bits.
inline float exp(float x) {
  const float low = select(x < -87.3f, -87.3f, x);
  const float clamped = select(low > 88.0f, 88.0f, low);
  // Round to nearest by adding and removing 1.5 * 2^23 (no SSE4.1 roundps
  // needed); exact for |value| < 2^22.
  constexpr float kRound = 12582912.0f;
  const float n = (clamped * 1.44269504088896341f + kRound) - kRound;
  const float r = clamped - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e_r = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;  // n in [-126, 127]
  float two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return select(x < -87.3f, 0.0f, e_r * two_n);
}

// erf(x) with absolute error < 1.5e-7 (glibc's erff: 5e-8). Near 0 the
// Maclaurin series (nine terms, truncation < 2e-8 for |x| < 0.75); beyond it
// 1 - erfc(|x|) with erfc from the Chebyshev fit of Numerical Recipes
// (erfcc, fractional error < 1.2e-7), which alone loses ~4e-7 near 0 where
// erfc is close to 1. Both are computed and one selected, so no branch stops
// vectorisation. GELU adds erf to 1: an absolute bound is what matters.
inline float erf(float x) {
  const float x2 = x * x;
  float s = 1.0f / 685440.0f;  // 1 / (8! * 17)
  s = s * -x2 + 1.0f / 75600.0f;
  s = s * -x2 + 1.0f / 9360.0f;
  s = s * -x2 + 1.0f / 1320.0f;
  s = s * -x2 + 1.0f / 216.0f;
  s = s * -x2 + 1.0f / 42.0f;
  s = s * -x2 + 1.0f / 10.0f;
  s = s * -x2 + 1.0f / 3.0f;
  s = s * -x2 + 1.0f;
  const float series = 1.12837916709551257f * x * s;  // 2/sqrt(pi) * x * s

  const float z = std::abs(x);
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const float erfc = t * math::exp(p - x2);
  const float tail = select(x < 0.0f, erfc - 1.0f, 1.0f - erfc);
  return select(z < 0.75f, series, tail);
}

// log(1 + u) for u in [0, 1], relative error < 3e-7 (a few float roundings):
// 2 atanh(s) with s = u / (2 + u) in [0, 1/3], whose odd series needs seven
// terms there; forming s never computes 1 + u, so tiny u keeps its digits.
inline float log1p_unit(float u) {
  const float s = u / (2.0f + u);
  const float s2 = s * s;
  float p = 1.0f / 13.0f;
  p = p * s2 + 1.0f / 11.0f;
  p = p * s2 + 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  return 2.0f * s * p;
}

}  // namespace hybrec::kernels::cpu::math

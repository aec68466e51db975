// Shared helpers for the kernel tests: seeded inputs, tolerance comparison
// (|a - b| <= atol + rtol * |b|, b the reference), central finite differences
// in double, and the skip for machines without a CUDA device.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/error.h"

namespace hybrec::testing {

inline std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> out(n);
  for (auto& v : out) v = dist(rng);
  return out;
}

template <typename Int>
std::vector<Int> random_ints(std::size_t n, std::uint64_t seed, Int lo, Int hi_exclusive) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<long long> dist(lo, static_cast<long long>(hi_exclusive) - 1);
  std::vector<Int> out(n);
  for (auto& v : out) v = static_cast<Int>(dist(rng));
  return out;
}

template <typename T>
std::vector<double> to_double(const std::vector<T>& in) {
  return std::vector<double>(in.begin(), in.end());
}

template <typename A, typename B>
::testing::AssertionResult all_close(const std::vector<A>& actual, const std::vector<B>& expected,
                                     double atol, double rtol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure()
           << "size " << actual.size() << " != expected size " << expected.size();
  }
  std::size_t bad = 0, first = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = static_cast<double>(actual[i]);
    const double b = static_cast<double>(expected[i]);
    const double err = std::abs(a - b);
    const bool ok = std::isfinite(a) && err <= atol + rtol * std::abs(b);
    if (!ok) {
      if (bad == 0) first = i;
      ++bad;
    }
    if (err > worst || !std::isfinite(a)) worst = std::isfinite(a) ? err : INFINITY;
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << actual.size() << " values outside atol=" << atol << " rtol=" << rtol
         << "; first at [" << first << "]: " << static_cast<double>(actual[first]) << " vs "
         << static_cast<double>(expected[first]) << "; worst |diff| " << worst;
}

// d f / d x_i by central differences, in double.
inline std::vector<double> numeric_gradient(const std::function<double(const std::vector<double>&)>& f,
                                            std::vector<double> x, double h = 1e-5) {
  std::vector<double> grad(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = f(x);
    x[i] = saved - h;
    const double down = f(x);
    x[i] = saved;
    grad[i] = (up - down) / (2.0 * h);
  }
  return grad;
}

// Expects `fn` to throw hybrec::Error whose message contains `needle`.
template <typename Fn>
void expect_error(Fn&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected hybrec::Error containing \"" << needle << "\"";
  } catch (const hybrec::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message \"" << e.what() << "\" lacks \"" << needle << "\"";
  }
}

}  // namespace hybrec::testing

// GPU tests run only where a CUDA device is present; elsewhere they skip
// with a message rather than pass silently.
#define HYBREC_REQUIRE_CUDA_DEVICE()                                                   \
  do {                                                                                 \
    if (!::hybrec::kernels::cuda_compiled()) GTEST_SKIP() << "built without CUDA";     \
    if (::hybrec::kernels::cuda_device_count() == 0)                                   \
      GTEST_SKIP() << "no CUDA device on this machine";                                \
  } while (0)

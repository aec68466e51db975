// Shared by the dense suites: the CPU device, the float-vs-double
// tolerances and the error check.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "hybrec/kernels/device.h"
#include "hybrec/kernels/error.h"

namespace hybrec::testing::dense {

inline const kernels::Device kCpu = kernels::Device::cpu();

// Float tolerances against the double reference. Backward checks compare
// float gradients with double finite differences (accurate to ~1e-9 here).
inline constexpr double kAtol = 1e-5, kRtol = 1e-5;
inline constexpr double kGradAtol = 1e-4, kGradRtol = 1e-4;

// Expects `fn` to throw hybrec::Error whose message contains `needle`.
template <typename Fn>
inline void expect_error(Fn&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected hybrec::Error containing \"" << needle << "\"";
  } catch (const hybrec::Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message \"" << e.what() << "\" lacks \"" << needle << "\"";
  }
}

}  // namespace hybrec::testing::dense

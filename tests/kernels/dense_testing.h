// Shared by the dense suites: the CPU device and the float-vs-double
// tolerances.
#pragma once

#include "hybrec/kernels/device.h"

namespace hybrec::testing::dense {

inline const kernels::Device kCpu = kernels::Device::cpu();

// Float tolerances against the double reference. Backward checks compare
// float gradients with double finite differences (accurate to ~1e-9 here).
inline constexpr double kAtol = 1e-5, kRtol = 1e-5;
inline constexpr double kGradAtol = 1e-4, kGradRtol = 1e-4;

}  // namespace hybrec::testing::dense

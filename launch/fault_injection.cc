#include "launch/fault_injection.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "hybrec/kernels/error.h"

namespace hybrec::launch {

std::function<void(int64_t)> checkpoint_fault_from_env() {
  const char* value = std::getenv("HYBREC_FAULT");
  if (value == nullptr || value[0] == '\0') return {};
  const std::string fault = value;
  const std::string prefix = "kill-in-checkpoint:";
  const std::string step = fault.substr(std::min(fault.size(), prefix.size()));
  HYBREC_CHECK(fault.compare(0, prefix.size(), prefix) == 0 && !step.empty() &&
                   step.find_first_not_of("0123456789") == std::string::npos && step.size() < 18,
               "HYBREC_FAULT='", fault, "' is not kill-in-checkpoint:STEP");
  const int64_t at = std::stoll(step);
  return [fault, at](int64_t s) {
    if (s != at) return;
    std::fprintf(stderr, "hybrec train: HYBREC_FAULT=%s: killing this rank\n", fault.c_str());
    std::fflush(stderr);
    std::raise(SIGKILL);
  };
}

}  // namespace hybrec::launch

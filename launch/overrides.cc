#include "launch/overrides.h"

#include <cstring>

#include "hybrec/kernels/error.h"

namespace hybrec::launch {

SplitArgs take_overrides(int argc, char** argv) {
  SplitArgs out;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--set") == 0) {
      HYBREC_CHECK(i + 1 < argc, "--set needs section.key=value");
      out.overrides.emplace_back(argv[++i]);
    } else if (std::strncmp(argv[i], "--set=", 6) == 0) {
      out.overrides.emplace_back(argv[i] + 6);
    } else {
      out.rest.push_back(argv[i]);
    }
  }
  return out;
}

}  // namespace hybrec::launch

// `--set section.key=value`, which may repeat: taken out of argv before the
// Flags parser (which keeps one value per flag) sees the rest.
#pragma once

#include <string>
#include <vector>

namespace hybrec::launch {

struct SplitArgs {
  std::vector<std::string> overrides;  // the values of every --set, in order
  std::vector<char*> rest;             // argv without them
};

SplitArgs take_overrides(int argc, char** argv);

}  // namespace hybrec::launch

// Helpers for tests that run the real `hybrec` binary: run a command and
// capture its output, make a small synthetic dataset once, read a run's
// metrics.jsonl.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "testing/command.h"
#include "testing/temp_dir.h"

namespace hybrec::trainer::testing {

using hybrec::testing::CommandResult;
using hybrec::testing::run_command;

inline std::vector<nlohmann::json> read_metrics(const std::string& run_dir) {
  std::vector<nlohmann::json> events;
  std::ifstream in(std::filesystem::path(run_dir) / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) events.push_back(nlohmann::json::parse(line));
  return events;
}

// The last event matching event (and split/subset when given).
inline nlohmann::json find_event(const std::vector<nlohmann::json>& events,
                                 const std::string& event, const std::string& split = "",
                                 const std::string& subset = "") {
  nlohmann::json found;
  for (const auto& e : events) {
    if (e.value("event", "") != event) continue;
    if (!split.empty() && e.value("split", "") != split) continue;
    if (!subset.empty() && e.value("subset", "") != subset) continue;
    found = e;
  }
  return found;
}

using hybrec::testing::TempDir;

// mpirun with what this machine needs: root allowed, more ranks than cores.
inline std::string mpirun() {
  return std::string("env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ") +
         HYBREC_MPIEXEC + " --oversubscribe";
}

}  // namespace hybrec::trainer::testing

// hybrec report: one comparison table from the metrics.jsonl of several runs
// (the demo's hybrid / CF-only / text-only models, or any set of runs).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"

namespace hybrec::launch {

namespace {

struct RunResults {
  std::string name;
  double warm_hr = -1, warm_ndcg = -1, cold_hr = -1, cold_ndcg = -1, samples_per_s = -1;
  int64_t ranks = 0;
};

RunResults read_run(const std::string& dir, int k) {
  const std::string path = (std::filesystem::path(dir) / "metrics.jsonl").string();
  std::ifstream in(path);
  HYBREC_CHECK(in.good(), "hybrec report: cannot read ", path);
  RunResults r;
  r.name = std::filesystem::path(dir).filename().string();
  if (r.name.empty()) r.name = std::filesystem::path(dir).parent_path().filename().string();
  const std::string hr = "hr@" + std::to_string(k), ndcg = "ndcg@" + std::to_string(k);
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    nlohmann::json e;
    try {
      e = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& ex) {
      HYBREC_THROW("hybrec report: ", path, " line ", line_no, ": ", ex.what());
    }
    const std::string event = e.value("event", "");
    if (event == "throughput") {
      r.samples_per_s = e.value("samples_per_s", -1.0);
      r.ranks = e.value("ranks", int64_t{0});
    }
    if (event != "eval" || e.value("split", "") != "test" || !e.contains(hr)) continue;
    if (e.value("source", "") == "hybrec eval") continue;  // the run's own results
    if (e.value("subset", "") == "warm") {
      r.warm_hr = e[hr];
      r.warm_ndcg = e[ndcg];
    } else if (e.value("subset", "") == "cold") {
      r.cold_hr = e[hr];
      r.cold_ndcg = e[ndcg];
    }
  }
  return r;
}

std::string cell(double v, const char* format) {
  if (v < 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace

int run_report(int argc, char** argv) {
  Flags flags("hybrec report", "hybrec report RUN_DIR... [--k K]");
  flags.add("k", "K", "the cutoff of HR@K and NDCG@K (default 10)");
  flags.add("help", "", "print this help");
  flags.parse(argc, argv, 2);
  if (flags.has("help")) {
    std::cout << flags.help();
    return 0;
  }
  HYBREC_CHECK(!flags.positional().empty(), "hybrec report: name at least one run directory");
  const int k = static_cast<int>(flags.get_int("k", 10, 1, 1000));
  const std::string K = std::to_string(k);
  char line[256];
  std::snprintf(line, sizeof line, "%-10s %10s %10s %10s %10s %12s %6s\n", "model",
                ("warm HR@" + K).c_str(), ("NDCG@" + K).c_str(), ("cold HR@" + K).c_str(),
                ("NDCG@" + K).c_str(), "samples/s", "ranks");
  std::cout << line;
  for (const auto& dir : flags.positional()) {
    const RunResults r = read_run(dir, k);
    std::snprintf(line, sizeof line, "%-10s %10s %10s %10s %10s %12s %6lld\n", r.name.c_str(),
                  cell(r.warm_hr, "%.4f").c_str(), cell(r.warm_ndcg, "%.4f").c_str(),
                  cell(r.cold_hr, "%.4f").c_str(), cell(r.cold_ndcg, "%.4f").c_str(),
                  cell(r.samples_per_s, "%.0f").c_str(), static_cast<long long>(r.ranks));
    std::cout << line;
  }
  return 0;
}

}  // namespace hybrec::launch

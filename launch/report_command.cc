// hybrec report: comparison tables from the metrics.jsonl of several runs
// (the demo's hybrid / CF-only / text-only models, or any set of runs), and
// with --plot their training curves and test HR@K as a PNG.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"
#include "launch/report_metrics.h"
#include "launch/report_plot.h"

namespace hybrec::launch {

namespace {

std::string cell(const std::optional<double>& v, const char* format) {
  if (!v) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, *v);
  return buf;
}

// `text` right-aligned in `width` columns (left-aligned when width < 0).
std::string pad(const std::string& text, int width) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%*s", width, text.c_str());
  return buf;
}

int name_width(const std::vector<RunMetrics>& runs) {
  std::size_t width = 10;
  for (const auto& run : runs)
    for (const auto& model : run.models) width = std::max(width, model.name.size());
  return static_cast<int>(width);
}

// model, HR@K and NDCG@K of warm, cold and cold_all, samples/s and ranks of
// the run's training (a baseline has neither).
void print_accuracy(std::ostream& out, const std::vector<RunMetrics>& runs, int k) {
  const std::string K = std::to_string(k);
  const int w = name_width(runs);
  std::string header = pad("model", -w);
  for (const char* subset : kReportSubsets) {
    const std::string hr = std::string(subset) + " HR@" + K;
    header += " " + pad(hr, static_cast<int>(std::max<std::size_t>(10, hr.size()))) + " " +
              pad("NDCG@" + K, 10);
  }
  out << header << " " << pad("samples/s", 12) << " " << pad("ranks", 6) << "\n";
  for (const auto& run : runs) {
    for (const auto& model : run.models) {
      std::string line = pad(model.name, -w);
      for (std::size_t i = 0; i < kReportSubsets.size(); ++i) {
        const std::size_t hr_width = std::strlen(kReportSubsets[i]) + 4 + K.size();
        line += " " +
                pad(cell(model.subsets[i].hr, "%.4f"),
                    static_cast<int>(std::max<std::size_t>(10, hr_width))) +
                " " + pad(cell(model.subsets[i].ndcg, "%.4f"), 10);
      }
      const bool own = !model.baseline;
      line += " " + pad(own ? cell(run.samples_per_s, "%.0f") : "-", 12) + " " +
              pad(own && run.ranks ? std::to_string(*run.ranks) : "-", 6);
      out << line << "\n";
    }
  }
}

// The beyond-accuracy metrics per model and evaluated subset.
void print_beyond_accuracy(std::ostream& out, const std::vector<RunMetrics>& runs, int k) {
  const std::string K = std::to_string(k);
  const int w = name_width(runs);
  std::vector<int> widths;
  std::string header = pad("model", -w) + " " + pad("subset", -8);
  for (const char* metric : kBeyondAccuracy) {
    const std::string name = std::string(metric) + "@" + K;
    widths.push_back(static_cast<int>(std::max<std::size_t>(8, name.size())));
    header += " " + pad(name, widths.back());
  }
  out << header << "\n";
  for (const auto& run : runs) {
    for (const auto& model : run.models) {
      for (std::size_t s = 0; s < kReportSubsets.size(); ++s) {
        const SubsetMetrics& m = model.subsets[s];
        if (!m.present) continue;
        std::string line = pad(model.name, -w) + " " + pad(kReportSubsets[s], -8);
        for (std::size_t i = 0; i < kBeyondAccuracy.size(); ++i)
          line += " " + pad(cell(m.beyond[i], "%.4f"), widths[i]);
        out << line << "\n";
      }
    }
  }
}

PlotSize parse_plot_size(const std::string& text) {
  PlotSize size;
  int consumed = 0;
  HYBREC_CHECK(std::sscanf(text.c_str(), "%dx%d%n", &size.width, &size.height, &consumed) == 2 &&
                   consumed == static_cast<int>(text.size()) && size.width >= 200 &&
                   size.width <= 10000 && size.height >= 200 && size.height <= 10000,
               "--plot-size '", text, "': expected WIDTHxHEIGHT in pixels, each in [200, 10000]");
  return size;
}

}  // namespace

int run_report(int argc, char** argv) {
  Flags flags("hybrec report",
              "hybrec report RUN_DIR... [--k K] [--plot FILE.png [--plot-size WxH]]");
  flags.add("k", "K", "the cutoff of HR@K, NDCG@K and the beyond-accuracy metrics (default 10)");
  flags.add("plot", "FILE.png",
            "also draw training loss and validation HR@K per run, and test HR@K per model and "
            "subset, with gnuplot (package gnuplot-nox)");
  flags.add("plot-size", "WxH", "the plot's size in pixels (default 1200x900)");
  flags.add("help", "", "print this help");
  flags.parse(argc, argv, 2);
  if (flags.has("help")) {
    std::cout << flags.help();
    return 0;
  }
  HYBREC_CHECK(!flags.positional().empty(), "name at least one run directory");
  const int k = static_cast<int>(flags.get_int("k", 10, 1, 1000));
  const PlotSize size = parse_plot_size(flags.get("plot-size", "1200x900"));
  if (flags.has("plot")) HYBREC_CHECK(!flags.require("plot").empty(), "--plot: empty file name");

  std::vector<RunMetrics> runs;
  for (const auto& dir : flags.positional()) runs.push_back(read_run_metrics(dir, k));
  print_accuracy(std::cout, runs, k);
  std::cout << "\nbeyond accuracy (test split, @" << k << "; - where not logged)\n";
  print_beyond_accuracy(std::cout, runs, k);
  if (flags.has("plot")) {
    std::cout.flush();
    write_report_plot(runs, k, flags.require("plot"), size);
    std::cout << "\nplot: " << flags.require("plot") << "\n";
  }
  return 0;
}

}  // namespace hybrec::launch

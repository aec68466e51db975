// `hybrec report --plot FILE.png`: the runs' training curves and their test
// HR@K as one PNG, drawn by gnuplot (Debian package gnuplot-nox).
#pragma once

#include <string>
#include <vector>

#include "launch/report_metrics.h"

namespace hybrec::launch {

struct PlotSize {
  int width = 1200, height = 900;  // pixels
};

// Draws, on one page of `size`: the training loss against step and the
// validation HR@K against step, one line per run (top); and a grouped bar
// chart of test HR@K per model (the runs and their baselines) and subset
// (warm, cold, cold_all) (bottom). A panel with nothing to draw says so.
//
// gnuplot (the first on PATH) runs as a child process on a script and data
// files in a temporary directory, removed afterwards. The PNG is written to
// `png_path`.tmp and renamed to `png_path`, so a failed plot leaves no
// png_path (an existing one is kept) and no .tmp. Throws hybrec::Error when
// gnuplot is not installed (naming the package), when png_path.tmp cannot be
// written, or when gnuplot fails (with what it printed).
void write_report_plot(const std::vector<RunMetrics>& runs, int k, const std::string& png_path,
                       const PlotSize& size);

}  // namespace hybrec::launch

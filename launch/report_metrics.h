// What `hybrec report` reads from a run directory's metrics.jsonl: the test
// results of the run's model and of the baselines `hybrec eval --baseline`
// wrote there, its training throughput, and its training curves.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hybrec::launch {

// The subsets a report shows, in column order (trainer/eval's names).
inline constexpr std::array<const char*, 3> kReportSubsets = {"warm", "cold", "cold_all"};

// The beyond-accuracy metrics of a test eval line, each logged as
// "<name>@K" (e.g. "coverage@10"); older runs have none of them.
inline constexpr std::array<const char*, 6> kBeyondAccuracy = {"coverage",  "gini", "pop_pct",
                                                               "new_share", "ild",  "novelty"};

// One subset's test results; a metric absent from the line is empty.
struct SubsetMetrics {
  bool present = false;  // a test eval line for this subset was read
  std::optional<double> hr, ndcg;
  std::array<std::optional<double>, kBeyondAccuracy.size()> beyond;
};

// One model's row: the run's own model or a baseline evaluated into its
// directory. `subsets` is indexed like kReportSubsets.
struct ModelMetrics {
  std::string name;  // the run's name, or "<run>/<baseline>" (e.g. "cf/popularity")
  bool baseline = false;
  std::array<SubsetMetrics, kReportSubsets.size()> subsets;
  bool any() const;  // some subset present
};

// (step, value) in increasing step order.
struct CurvePoint {
  int64_t step = 0;
  double value = 0;
};

struct RunMetrics {
  std::string name;  // the directory's last component
  // models[0] is the run's own model: its training-time test results (the
  // "eval" lines with split "test" and no "source"), or, for a directory
  // holding none, those of `hybrec eval` of its checkpoint ("model":
  // "checkpoint"); absent when the directory holds baselines only. Then
  // one row per baseline ("model" other than
  // "checkpoint"), in the order they first appear. Where a subset was
  // evaluated more than once, the last line counts.
  std::vector<ModelMetrics> models;
  std::optional<double> samples_per_s;  // the last "throughput" event
  std::optional<int64_t> ranks;
  // "train" events' loss and the valid split's HR@K ("eval", split "valid"),
  // by step; a step logged twice (a run resumed or rewound) keeps the last.
  std::vector<CurvePoint> train_loss, valid_hr;
};

// Reads DIR/metrics.jsonl for cutoff K. Throws hybrec::Error when DIR or its
// metrics.jsonl is missing or unreadable, or a line is not a JSON object or
// holds a metric that is not a number (naming the file and the line).
RunMetrics read_run_metrics(const std::string& dir, int k);

}  // namespace hybrec::launch

// `hybrec eval --explanations`: the run's explanations (trainer/explain)
// scored against the dataset's held-out text (trainer/eval's explanation
// metrics), on one rank.
#pragma once

#include <cstdint>
#include <string>

#include "trainer/explain/explanation.h"
#include "trainer/pipelines/trained_run.h"

namespace hybrec::launch {

struct ExplanationEvalSettings {
  std::string model_path;   // the GGUF language model
  int64_t max_pairs = 100;  // pairs scored against references (a seeded sample; 0 = all)
  int64_t personalisation_items = 10;
  explain::ExplainOptions explain;
};

// Prints the metrics and appends their event to out_dir/metrics.jsonl.
void evaluate_run_explanations(const trainer::TrainedRun& run,
                               const ExplanationEvalSettings& settings, const std::string& out_dir);

}  // namespace hybrec::launch

// `hybrec eval` with the generated-text score term (config [rerank],
// trainer/rerank): the run's model re-ranked over each case's top
// rerank.generated_n items by z' = (z + lambda y') / sqrt(1 + lambda^2).
//
// lambda: with rerank.lambda_grid, the value among the grid and 0 with the
// best NDCG@K (eval.k) on the validation split's warm cases (the only
// validation there is: cold items have no validation event), the smallest
// on a tie, so lambda = 0 (no term) wins unless the term helps; without a
// grid, rerank.generated_lambda. Then the test split's warm and cold cases
// are ranked without the term (lambda = 0, the model's own scores) and
// with it, on the same users (rerank.max_users, a seeded sample), and with
// rerank.test_curve at every lambda of the grid too. The decoder's y' are
// cached, so every lambda after the first costs no decoding.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "trainer/dist/communicator.h"
#include "trainer/eval/evaluate.h"
#include "trainer/pipelines/trained_run.h"
#include "trainer/rerank/title_likelihood.h"

namespace hybrec::trainer {

struct GeneratedTermEval {
  double lambda = 0.0;                                // the lambda of `with`
  std::vector<std::pair<double, double>> validation;  // (lambda, validation NDCG@K) tried
  std::vector<EvalResult> without, with;              // test warm and cold
  // With rerank.test_curve: the test results at every lambda tried.
  std::vector<std::pair<double, std::vector<EvalResult>>> test_curve;
  TitleLikelihoodStats cost;  // this rank's decoding
  int threads = 1;            // OpenMP threads of the decoder
};

// Evaluates `run` as above; run.config.rerank.generated_n must be > 0.
// Errors name a missing or unreadable decoder file.
GeneratedTermEval evaluate_generated_term(const TrainedRun& run, Communicator& comm);

}  // namespace hybrec::trainer

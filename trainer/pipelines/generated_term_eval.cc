#include "trainer/pipelines/generated_term_eval.h"

#include <omp.h>

#include <algorithm>
#include <filesystem>

#include "hybrec/kernels/error.h"
#include "trainer/loop/trainer.h"
#include "trainer/rerank/generated_rerank.h"

namespace hybrec::trainer {

GeneratedTermEval evaluate_generated_term(const TrainedRun& run, Communicator& comm) {
  const RerankOptions& o = run.config.rerank;
  HYBREC_CHECK(o.generated_n > 0, "evaluate_generated_term: rerank.generated_n is 0");
  HYBREC_CHECK(std::filesystem::exists(o.model), "rerank.model ", o.model,
               ": no such file (scripts/get-smollm2.sh places SmolLM2-135M-Instruct in models/)");
  const Decoder decoder = load_decoder(o.model);
  TitleLikelihoodOptions options;
  options.history_titles = o.history_titles;
  options.title_tokens = o.title_tokens;
  TitleLikelihood term(*decoder.model, *decoder.tokenizer, run.data.item_text, options);
  RunScorer model = make_run_scorer(run);
  const EvalSettings settings = eval_settings_for(run.config);
  const int64_t items = run.data.num_items;

  GeneratedTermEval out;
  out.threads = omp_get_max_threads();
  out.lambda = o.generated_lambda;
  std::vector<double> grid = o.lambda_grid;
  if (!grid.empty()) {
    grid.push_back(0.0);
    std::sort(grid.begin(), grid.end());
    grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
    GeneratedTermScorer scorer(*model.scorer, term, items, o.generated_n, 0.0);
    double best = -1.0;
    for (double lambda : grid) {
      scorer.set_lambda(lambda);
      const auto r =
          evaluate(run.data, scorer, comm, settings, "valid", {EvalSubset::kWarm}, o.max_users);
      const double ndcg = r.empty() ? 0.0 : r.front().ndcg;
      out.validation.emplace_back(lambda, ndcg);
      if (ndcg > best) {  // ascending grid: a tie keeps the smaller lambda
        best = ndcg;
        out.lambda = lambda;
      }
    }
  }
  // The test lambdas: 0 and the chosen one, or the whole grid for the curve.
  std::vector<double> lambdas = o.test_curve && !grid.empty() ? grid : std::vector<double>{0.0};
  if (std::find(lambdas.begin(), lambdas.end(), out.lambda) == lambdas.end()) {
    lambdas.push_back(out.lambda);
  }
  std::vector<std::vector<EvalResult>> by_lambda(lambdas.size());
  for (EvalSubset subset : {EvalSubset::kWarm, EvalSubset::kCold}) {
    const std::vector<uint8_t>* only = subset == EvalSubset::kCold ? &run.data.item_cold : nullptr;
    GeneratedTermScorer scorer(*model.scorer, term, items, o.generated_n, 0.0, only);
    for (std::size_t i = 0; i < lambdas.size(); ++i) {
      scorer.set_lambda(lambdas[i]);
      const auto r = evaluate(run.data, scorer, comm, settings, "test", {subset}, o.max_users);
      by_lambda[i].insert(by_lambda[i].end(), r.begin(), r.end());
    }
  }
  for (std::size_t i = 0; i < lambdas.size(); ++i) {
    if (lambdas[i] == 0.0) out.without = by_lambda[i];
    if (lambdas[i] == out.lambda) out.with = by_lambda[i];
    if (o.test_curve) out.test_curve.emplace_back(lambdas[i], by_lambda[i]);
  }
  out.cost = term.stats();
  return out;
}

}  // namespace hybrec::trainer

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
  if (!o.lambda_grid.empty()) {
    std::vector<double> grid = o.lambda_grid;
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
  for (EvalSubset subset : {EvalSubset::kWarm, EvalSubset::kCold}) {
    const std::vector<uint8_t>* only = subset == EvalSubset::kCold ? &run.data.item_cold : nullptr;
    GeneratedTermScorer scorer(*model.scorer, term, items, o.generated_n, 0.0, only);
    auto test = [&](double lambda, std::vector<EvalResult>& into) {
      scorer.set_lambda(lambda);
      const auto r = evaluate(run.data, scorer, comm, settings, "test", {subset}, o.max_users);
      into.insert(into.end(), r.begin(), r.end());
    };
    test(0.0, out.without);
    test(out.lambda, out.with);
  }
  out.cost = term.stats();
  return out;
}

}  // namespace hybrec::trainer

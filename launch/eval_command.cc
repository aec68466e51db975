// hybrec eval: full-ranking evaluation of a saved checkpoint (or a baseline)
// on a dataset's test split, warm and cold items; in parallel over ranks
// under mpirun. Reads the parameter-server snapshot files directly.
#include <filesystem>
#include <iostream>
#include <memory>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/eval_explanations.h"
#include "launch/flags.h"
#include "launch/llm_flags.h"
#include "launch/overrides.h"
#include "launch/trainer_ranks.h"
#include "trainer/loop/run_log.h"
#include "trainer/pipelines/generated_term_eval.h"
#include "trainer/pipelines/trained_run.h"

namespace hybrec::launch {

namespace fs = std::filesystem;

namespace {

constexpr const char* kUsage =
    "hybrec eval CHECKPOINT [--data FILE] [--out DIR] [--baseline popularity|random]\n"
    "            [--set section.key=value ...]\n"
    "hybrec eval CHECKPOINT --explanations [--model FILE.gguf] [--pairs 100] [--max-tokens 40]\n"
    "CHECKPOINT is a run directory (its checkpoints/latest) or one step directory.\n"
    "--explanations scores the run's explanations (hybrec explain) against the dataset's\n"
    "held-out text instead of ranking items: MovieLens users' own tags, else the item text.\n"
    "--set rerank.generated_n=N re-ranks each case's top N with the generated-text term\n"
    "(README \"The generated-text score term\"): test warm and cold, without and with it.";

// The console report and metrics.jsonl lines of an evaluation with the
// generated-text term (rank 0).
void report_generated_term(const trainer::TrainedRun& run, const trainer::GeneratedTermEval& g,
                           const std::string& out_dir) {
  const trainer::RerankOptions& o = run.config.rerank;
  const std::string k = std::to_string(run.config.eval.k);
  std::cout << "checkpoint " << run.step_dir << ", data " << run.config.data_path << "\n"
            << "generated-text term: decoder " << o.model << ", top " << o.generated_n
            << " re-ranked, " << o.history_titles << " history titles";
  if (o.max_users > 0) std::cout << ", a sample of ~" << o.max_users << " users";
  std::cout << "\n";
  if (!g.validation.empty()) {
    std::cout << "lambda by validation (warm) NDCG@" << k << ":";
    for (const auto& [lambda, ndcg] : g.validation) std::cout << "  " << lambda << ": " << ndcg;
    std::cout << "\n";
  }
  if (!g.test_curve.empty()) {
    std::cout << "test by lambda (a diagnostic, not used to choose): HR@" << k << " / NDCG@" << k
              << "\n";
    for (const auto& [lambda, results] : g.test_curve) {
      std::cout << "  " << lambda << ":";
      for (const auto& r : results) std::cout << "  " << r.subset << " " << r.hr << " / " << r.ndcg;
      std::cout << "\n";
    }
  }
  std::cout << "\nwithout the term (lambda = 0):\n"
            << trainer::format_results(g.without) << "\nwith the term (lambda = " << g.lambda
            << "):\n"
            << trainer::format_results(g.with);
  const trainer::TitleLikelihoodStats& c = g.cost;
  const double per_case = c.prompts > 0 ? c.seconds / static_cast<double>(c.prompts) : 0.0;
  std::cout << "\ndecoder (this rank): " << c.prompts << " cases re-ranked, " << c.candidates
            << " titles scored (" << c.cached << " from the cache), " << c.prompt_tokens
            << " prompt + " << c.candidate_tokens << " title tokens, " << c.seconds << " s, "
            << per_case << " s per case, " << g.threads << " thread(s)";
  if (c.short_prompts > 0) {
    std::cout << "; " << c.short_prompts << " prompts lost their oldest titles to fit the context";
  }
  std::cout << "\n";

  trainer::MetricsLog log((fs::path(out_dir) / "metrics.jsonl").string());
  auto write = [&](const std::vector<trainer::EvalResult>& results, const char* model,
                   double lambda) {
    for (const auto& r : results) {
      nlohmann::json event = trainer::eval_event(r, run.state.step);
      event["source"] = "hybrec eval";
      event["model"] = model;
      event["rerank_n"] = o.generated_n;
      event["lambda"] = lambda;
      log.write(event);
    }
  };
  write(g.without, "without_generated_term", 0.0);
  write(g.with, "with_generated_term", g.lambda);
  nlohmann::json validation = nlohmann::json::array();
  for (const auto& [lambda, ndcg] : g.validation) validation.push_back({lambda, ndcg});
  nlohmann::json test_curve = nlohmann::json::array();
  for (const auto& [lambda, results] : g.test_curve) {
    nlohmann::json point = {{"lambda", lambda}};
    for (const auto& r : results) {
      point[r.subset + "_hr@" + k] = r.hr;
      point[r.subset + "_ndcg@" + k] = r.ndcg;
    }
    test_curve.push_back(point);
  }
  log.write({{"event", "generated_term"},
             {"model_file", o.model},
             {"rerank_n", o.generated_n},
             {"history_titles", o.history_titles},
             {"max_users", o.max_users},
             {"lambda", g.lambda},
             {"validation_ndcg@" + k, validation},
             {"test_curve", test_curve},
             {"cases", c.prompts},
             {"titles_scored", c.candidates},
             {"titles_cached", c.cached},
             {"prompt_tokens", c.prompt_tokens},
             {"title_tokens", c.candidate_tokens},
             {"short_prompts", c.short_prompts},
             {"decoder_s", c.seconds},
             {"s_per_case", per_case},
             {"threads", g.threads},
             {"step", run.state.step}});
}

}  // namespace

int run_eval(int argc, char** argv) {
  SplitArgs args = take_overrides(argc, argv);
  Flags flags("hybrec eval", kUsage);
  flags.add("data", "FILE", "dataset file (default: the run's data.path)");
  flags.add("out", "DIR", "append results to DIR/metrics.jsonl (default: the run directory)");
  flags.add("baseline", "NAME",
            "evaluate a baseline instead of the model: popularity (training-event counts) or "
            "random (seeded uniform scores)");
  flags.add("explanations", "",
            "score explanations (BLEU, ROUGE, FMR, FCR, distinct, USR, personalisation) "
            "instead of ranking items");
  flags.add("model", "FILE",
            std::string("with --explanations: GGUF model (default ") + kDefaultLanguageModel + ")");
  flags.add("pairs", "N",
            "with --explanations: (user, item) pairs scored, a seeded sample (default 100; 0 = "
            "all)");
  flags.add("max-tokens", "N", "with --explanations: tokens per explanation (default 40)");
  flags.add("help", "", "print this help");
  flags.parse(static_cast<int>(args.rest.size()), args.rest.data(), 2);
  if (flags.has("help")) {
    std::cout << flags.help();
    return 0;
  }
  HYBREC_CHECK(flags.positional().size() == 1, "hybrec eval: expected one CHECKPOINT, got ",
               flags.positional().size(), " arguments");
  const std::string baseline = flags.get("baseline", "");
  HYBREC_CHECK(baseline.empty() || baseline == "popularity" || baseline == "random",
               "hybrec eval: unknown --baseline '", baseline, "' (known: popularity, random)");
  if (flags.has("data")) args.overrides.push_back("data.path=" + flags.require("data"));
  const trainer::TrainedRun run = trainer::load_trained_run(flags.positional()[0], args.overrides);
  const std::string out_dir = flags.get("out", run.run_dir);
  if (flags.has("explanations")) {
    HYBREC_CHECK(baseline.empty(), "hybrec eval: --explanations explains the model's items; "
                                   "a --baseline has no explanations");
    ExplanationEvalSettings settings;
    settings.model_path = flags.get("model", kDefaultLanguageModel);
    settings.max_pairs = flags.get_int("pairs", 100, 0, INT64_MAX);
    settings.explain.generation.max_tokens = flags.get_int("max-tokens", 40, 1, 4096);
    evaluate_run_explanations(run, settings, out_dir);
    return 0;
  }

  TrainerRanks ranks;
  if (run.config.rerank.generated_n > 0 && baseline.empty()) {
    const auto g = trainer::evaluate_generated_term(run, ranks.comm());
    if (ranks.comm().rank() == 0) report_generated_term(run, g, out_dir);
    ranks.finish();
    return 0;
  }
  const auto results = trainer::evaluate_trained_run(
      run, ranks.comm(),
      baseline.empty()           ? trainer::Baseline::kNone
      : baseline == "popularity" ? trainer::Baseline::kPopularity
                                 : trainer::Baseline::kRandom,
      "test",
      {trainer::EvalSubset::kWarm, trainer::EvalSubset::kCold, trainer::EvalSubset::kColdAll});
  if (ranks.comm().rank() == 0) {
    std::cout << "checkpoint " << run.step_dir << (baseline.empty() ? "" : ", baseline " + baseline)
              << ", data " << run.config.data_path << "\n"
              << trainer::format_results(results);
    trainer::MetricsLog log((fs::path(out_dir) / "metrics.jsonl").string());
    for (const auto& r : results) {
      nlohmann::json event = trainer::eval_event(r, run.state.step);
      event["source"] = "hybrec eval";
      event["model"] = baseline.empty() ? "checkpoint" : baseline;
      log.write(event);
    }
  }
  ranks.finish();
  return 0;
}

}  // namespace hybrec::launch

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
    "held-out text instead of ranking items: MovieLens users' own tags, else the item text.";

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

// hybrec explain: why a trained run would recommend an item to a user, in
// one sentence written by the language model, with the aspect words the
// item shares with the history the model attended to (trainer/explain).
#include <iostream>
#include <nlohmann/json.hpp>

#include "hybrec/kernels/error.h"
#include "launch/commands.h"
#include "launch/flags.h"
#include "launch/llm_flags.h"
#include "launch/overrides.h"
#include "trainer/explain/explainer.h"
#include "trainer/explain/prompt.h"
#include "trainer/pipelines/trained_run.h"

namespace hybrec::launch {

namespace {

constexpr const char* kUsage =
    "hybrec explain --run DIR --user U --item I [--model FILE.gguf] [--max-tokens 40]\n"
    "               [--aspects 3] [--titles 5] [--threads N] [--json]\n"
    "               [--set section.key=value ...]\n"
    "DIR is a run directory (its checkpoints/best, else latest) or one step directory.\n"
    "The user's history is every event of the run's dataset; the model's attention over\n"
    "its last history_len items weighs the aspect words. Greedy unless --temperature.";

}  // namespace

int run_explain(int argc, char** argv) {
  SplitArgs args = take_overrides(argc, argv);
  Flags flags("hybrec explain", kUsage);
  flags.add("run", "DIR", "the trained run (required)");
  flags.add("user", "U", "the user id (required)");
  flags.add("item", "I", "the recommended item's id (required)");
  flags.add("model", "FILE", std::string("GGUF model (default ") + kDefaultLanguageModel + ")");
  flags.add("max-tokens", "N", "tokens the model may write (default 40)");
  flags.add("aspects", "K", "aspect words at most (default 3)");
  flags.add("titles", "N", "history titles in the prompt at most (default 5)");
  flags.add("data", "FILE", "dataset file (default: the run's data.path)");
  add_sampling_flags(flags);
  flags.add("json", "", "print one JSON object");
  flags.add("help", "", "print this help");
  flags.parse(static_cast<int>(args.rest.size()), args.rest.data(), 2);
  if (flags.has("help")) {
    std::cout << flags.help();
    return 0;
  }
  HYBREC_CHECK(flags.positional().empty(), "hybrec explain: unexpected argument '",
               flags.positional().front(), "'");
  const int64_t user = flags.get_int("user", -1, INT64_MIN, INT64_MAX);
  const int64_t item = flags.get_int("item", -1, INT64_MIN, INT64_MAX);
  HYBREC_CHECK(flags.has("user"), "hybrec explain: --user is required");
  HYBREC_CHECK(flags.has("item"), "hybrec explain: --item is required");
  explain::ExplainOptions options;
  options.generation.max_tokens = flags.get_int("max-tokens", 40, 1, 4096);
  options.aspects = flags.get_int("aspects", 3, 0, 100);
  options.recent_titles = flags.get_int("titles", 5, 0, 100);
  read_sampling_flags(flags, &options.generation);
  if (flags.has("data")) args.overrides.push_back("data.path=" + flags.require("data"));

  const auto generator = load_language_model(flags.get("model", kDefaultLanguageModel));
  const trainer::TrainedRun run = trainer::load_trained_run(flags.require("run"), args.overrides);
  const explain::Explainer explainer(run, *generator);
  const explain::Explanation e = explainer.explain(user, item, options);
  const std::string title = explain::item_title(run.data.item_text[item]);
  if (flags.has("json")) {
    const nlohmann::ordered_json j = {{"user", user},
                                      {"item", item},
                                      {"title", title},
                                      {"sentence", e.sentence},
                                      {"aspects", e.aspects},
                                      {"no_history", e.no_history},
                                      {"prompt_tokens", e.prompt_tokens},
                                      {"generated_tokens", e.generated_tokens},
                                      {"truncated", e.truncated},
                                      {"prefill_s", e.prefill_s},
                                      {"decode_s", e.decode_s}};
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::string aspects;
  for (const std::string& a : e.aspects) aspects += (aspects.empty() ? "" : ", ") + a;
  std::cout << "user " << user << ", item " << item << ": " << title << "\n"
            << "aspects: " << (aspects.empty() ? "(none)" : aspects)
            << (e.no_history ? " (the user has no history)" : "") << "\n"
            << e.sentence << "\n";
  std::cerr << "hybrec explain: prompt " << e.prompt_tokens << " tokens in " << e.prefill_s
            << " s, " << e.generated_tokens << " generated in " << e.decode_s << " s"
            << (e.truncated ? " (prompt truncated from the left)" : "") << "\n";
  return 0;
}

}  // namespace hybrec::launch

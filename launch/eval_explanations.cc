#include "launch/eval_explanations.h"

#include <filesystem>
#include <iostream>

#include "launch/llm_flags.h"
#include "trainer/data/movielens.h"
#include "trainer/eval/explanation_eval.h"
#include "trainer/explain/explainer.h"
#include "trainer/loop/run_log.h"

namespace hybrec::launch {

void evaluate_run_explanations(const trainer::TrainedRun& run,
                               const ExplanationEvalSettings& settings,
                               const std::string& out_dir) {
  const trainer::Dataset& data = run.data;
  const trainer::ExplanationReferences refs = trainer::explanation_references(data);
  const bool pair_text = refs.kind == trainer::ReferenceKind::kPairText;
  // A user's own tags are few and mostly not test events (ml-latest-small:
  // 10 of 1,775 tagged pairs), so every tagged pair is scored; item-text
  // references exist for every pair, and the test split's are taken.
  const std::vector<trainer::UserItem> pairs =
      pair_text ? trainer::reference_pairs(refs)
                : trainer::split_pairs(data, trainer::Split::kTest);
  const auto generator = load_language_model(settings.model_path);
  const explain::Explainer explainer(run, *generator);

  trainer::ExplanationEvalOptions options;
  options.max_pairs = settings.max_pairs;
  options.seed = static_cast<uint64_t>(run.config.train.seed);
  options.personalisation_items = settings.personalisation_items;
  options.history = [&](int64_t user) {
    // The personalisation check's items are explained with the user's whole
    // history, as serving does, so two users differ by all their events.
    const int64_t begin = data.user_offsets[user], end = data.user_offsets[user + 1];
    return std::vector<int64_t>(data.item.begin() + begin, data.item.begin() + end);
  };
  options.on_progress = [](int64_t done, int64_t total) {
    if (done % 10 == 0 || done == total) {
      std::cerr << "hybrec eval: explained " << done << " of " << total << "\n";
    }
  };
  // The history stops before the pair and the item's text leaves out the
  // user's own tags: both would show the model the reference.
  const trainer::ExplainFn explain_fn = [&](int64_t user, int64_t item) {
    std::string text =
        pair_text ? trainer::item_text_without_user_tags(data, user, item) : data.item_text[item];
    const explain::Explanation e =
        explainer.explain_held_out(user, item, std::move(text), settings.explain);
    return trainer::Explanation{e.sentence, e.aspects};
  };
  const trainer::ExplanationEvalResult result =
      trainer::evaluate_explanations(pairs, explain_fn, refs, options);
  std::cout << "checkpoint " << run.step_dir << ", data " << run.config.data_path
            << ", language model " << settings.model_path << "\n"
            << trainer::format_explanation_result(result);
  trainer::MetricsLog log((std::filesystem::path(out_dir) / "metrics.jsonl").string());
  nlohmann::json event = trainer::explanation_event(result);
  event["step"] = run.state.step;
  event["source"] = "hybrec eval --explanations";
  event["language_model"] = settings.model_path;
  log.write(event);
}

}  // namespace hybrec::launch
